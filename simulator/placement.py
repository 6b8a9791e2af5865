"""Placing one instance: first fit over the agents' current offers, in a fixed agent order.

This is deliberately the simulator's own, simple algorithm, written from
Marathon's documented behaviour and not from berth's allocator: when the two
disagree about whether something fits, a test finds out.

Each agent that cannot take the instance is rejected for the reasons Marathon
reports in `/v2/queue`, checked in Marathon's order (its "reason funnel").
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from simulator.resources import Range, contains, ports_in, size

# Marathon's NoOfferMatchReason funnel, in the order offers are checked
REASON_FUNNEL = (
    "UnfulfilledRole",
    "UnfulfilledConstraint",
    "NoCorrespondingReservationFound",
    "AgentMaintenance",
    "InsufficientCpus",
    "InsufficientMemory",
    "InsufficientDisk",
    "InsufficientGpus",
    "InsufficientPorts",
    "DeclinedScarceResources",
)


@dataclass(frozen=True)
class Offer:
    """What one active agent can still give our framework's role."""

    agent_id: str
    hostname: str
    attributes: Mapping[str, str]
    cpus: int
    mem: int
    disk: int
    ports: tuple[Range, ...]
    role: str = "*"

    def field_value(self, name: str) -> str | None:
        if name == "hostname":
            return self.hostname
        return self.attributes.get(name)


@dataclass(frozen=True)
class Demand:
    """One instance: resources including the executor, and its host ports (None: any)."""

    cpus: int
    mem: int
    disk: int
    gpus: int = 0
    host_ports: tuple[int | None, ...] = ()
    constraints: tuple[tuple[str, ...], ...] = ()
    role_ok: bool = True


@dataclass
class Decision:
    offer: Offer | None = None
    ports: list[int] = field(default_factory=list)
    rejected: list[tuple[Offer, list[str]]] = field(default_factory=list)


def constraint_holds(
    constraint: Sequence[str],
    offer: Offer,
    peers: Sequence[Mapping[str, str | None]],
    offers: Sequence[Offer],
) -> bool:
    """Marathon's constraint semantics for one offer.

    `peers` are the field values of the agents already running the app's
    instances; `offers` are all current offers (GROUP_BY spreads over their values).
    A missing attribute satisfies only UNLIKE.
    """
    name, operator = constraint[0], constraint[1]
    value = constraint[2] if len(constraint) > 2 else None
    mine = offer.field_value(name)
    if mine is None:
        return operator == "UNLIKE"
    taken = Counter(p.get(name) for p in peers)
    if operator == "UNIQUE":
        return taken[mine] == 0
    if operator in ("CLUSTER", "IS"):
        return mine == value
    if operator == "LIKE":
        return re.fullmatch(value or "", mine) is not None
    if operator == "UNLIKE":
        return re.fullmatch(value or "", mine) is None
    if operator == "MAX_PER":
        return taken[mine] < int(value or 0)
    if operator == "GROUP_BY":
        values = {v for v in (o.field_value(name) for o in offers) if v is not None}
        return taken[mine] <= min(taken[v] for v in values)
    return False


def choose_ports(
    free: Sequence[Range], wanted: Sequence[int | None], rng: random.Random
) -> list[int] | None:
    """Fixed ports if free, then random free ones for the rest; None if any is missing."""
    if not wanted:
        return []
    fixed = {p for p in wanted if p is not None}
    if len(fixed) < len([p for p in wanted if p is not None]):
        return None
    if any(not contains(free, p) for p in fixed):
        return None
    chosen: list[int | None] = list(wanted)
    if all(p is not None for p in wanted):
        return [p for p in chosen if p is not None]
    pool = [p for p in ports_in(free) if p not in fixed]
    for index, port in enumerate(wanted):
        if port is None:
            if not pool:
                return None
            pick = pool.pop(rng.randrange(len(pool)))
            chosen[index] = pick
    return [p for p in chosen if p is not None]


def rejections(
    offer: Offer,
    demand: Demand,
    peers: Sequence[Mapping[str, str | None]],
    offers: Sequence[Offer],
) -> list[str]:
    """Every reason this offer cannot take the instance, in funnel order."""
    reasons = []
    if not demand.role_ok:
        reasons.append("UnfulfilledRole")
    if not all(constraint_holds(c, offer, peers, offers) for c in demand.constraints):
        reasons.append("UnfulfilledConstraint")
    if demand.cpus > offer.cpus:
        reasons.append("InsufficientCpus")
    if demand.mem > offer.mem:
        reasons.append("InsufficientMemory")
    if demand.disk > offer.disk:
        reasons.append("InsufficientDisk")
    if demand.gpus > 0:
        reasons.append("InsufficientGpus")
    if demand.host_ports:
        fixed = [p for p in demand.host_ports if p is not None]
        dynamic = len(demand.host_ports) - len(fixed)
        missing = any(not contains(offer.ports, p) for p in fixed)
        if missing or size(offer.ports) - len(set(fixed)) < dynamic:
            reasons.append("InsufficientPorts")
    return reasons


def first_fit(
    offers: Sequence[Offer],
    demand: Demand,
    peers: Sequence[Mapping[str, str | None]],
    rng: random.Random,
) -> Decision:
    decision = Decision()
    for offer in offers:
        reasons = rejections(offer, demand, peers, offers)
        if not reasons:
            ports = choose_ports(offer.ports, demand.host_ports, rng)
            if ports is not None:
                decision.offer = offer
                decision.ports = ports
                return decision
            reasons = ["InsufficientPorts"]
        decision.rejected.append((offer, reasons))
    return decision


def funnel(first_reasons: Mapping[str, int], processed: int) -> list[dict[str, int | str]]:
    """Marathon's `rejectSummary…`: per reason, offers that reached it and were declined there.

    `first_reasons` counts each rejected offer once, under the first reason of the funnel.
    """
    summary = []
    remaining = processed
    for reason in REASON_FUNNEL:
        declined = first_reasons.get(reason, 0)
        summary.append({"reason": reason, "declined": declined, "processed": remaining})
        remaining -= declined
    return summary
