"""SQLAlchemy models of berth; importing this package registers every table on Base.metadata."""

from models.allocation import Allocation
from models.audit import AuditEvent
from models.base import Base
from models.cluster import Cluster, DemandChange
from models.deployment import Deployment
from models.environment import Environment
from models.plan import Plan
from models.port import PortAssignment, PortBlock
from models.reservation import Reservation
from models.service import Service, ServiceDependency, ServicePort
from models.snapshot import ImportConflict, Snapshot, SyncLease
from models.token import ApiToken
from models.usage import UsageHour, UsageMinute, UsageSampling
from models.watch import WatchLease

__all__ = [
    "Allocation",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Cluster",
    "DemandChange",
    "Deployment",
    "Environment",
    "ImportConflict",
    "Plan",
    "PortAssignment",
    "PortBlock",
    "Reservation",
    "Service",
    "ServiceDependency",
    "ServicePort",
    "Snapshot",
    "SyncLease",
    "UsageHour",
    "UsageMinute",
    "UsageSampling",
    "WatchLease",
]
