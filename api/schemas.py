"""Marshmallow schemas: they validate requests and, through flask-smorest, make the OpenAPI doc."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from marshmallow import (
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from marathon.zookeeper import ZkUrl, is_zk_url


class FullMatch(validate.Regexp):
    """Regexp that must match the whole value: `$` alone lets a trailing newline through."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_dns_label = FullMatch(
    DNS_LABEL,
    error="must be a DNS label: 1-63 lowercase letters, digits and '-', "
    "starting and ending with a letter or digit",
)
# teams and tags are not DNS labels (the importer takes Marathon labels as they are)
TEAM_NAME = FullMatch(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
    error="must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
)
_group = FullMatch(
    r"^/$|^(/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$",
    error="must be an absolute Marathon group path of DNS labels, like /prod or /shop/prod",
)


class _HttpUrl(validate.URL):
    """An http(s) URL whose port, if given, is one (marshmallow takes any digits)."""

    def __call__(self, value: str) -> str:
        value = super().__call__(value)
        try:
            _ = urlsplit(value).port
        except ValueError as exc:
            raise ValidationError(f"'{value[:200]}': the port must lie in 0-65535") from exc
        return value


_http_url = _HttpUrl(require_tld=False, schemes={"http", "https"})


def _mesos_masters(value: list[str]) -> None:
    """Master URLs (http/https), or a single `zk://host:port[,host:port]/path`."""
    zk = [m for m in value if is_zk_url(m)]
    if zk and len(value) > 1:
        raise ValidationError("a zk:// URL must be the only entry: ZooKeeper names every master")
    if zk:
        try:
            ZkUrl.parse(zk[0])
        except ValueError as exc:
            raise ValidationError(f"'{zk[0][:200]}': {exc}") from exc
        return
    for master in value:
        _http_url(master)


def _unique(value: list[str]) -> None:
    if len({v.rstrip("/") for v in value}) != len(value):
        raise ValidationError("names a URL twice")


CONSTRAINT_OPERATORS = ("UNIQUE", "MAX_PER", "GROUP_BY", "CLUSTER", "LIKE", "UNLIKE", "IS")
_NEEDS_VALUE = {"MAX_PER", "LIKE", "UNLIKE", "IS", "CLUSTER"}


def _unstorable(value: Any) -> str | None:
    """Why a JSON value cannot be kept faithfully: NUL in text, NaN or Infinity in numbers."""
    if isinstance(value, str):
        return "must not contain NUL characters" if "\x00" in value else None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number (JSON has no NaN or Infinity)"
    if isinstance(value, Mapping):
        items: list[Any] = [*value.keys(), *value.values()]
        return next((r for r in map(_unstorable, items) if r), None)
    if isinstance(value, list):
        return next((r for r in map(_unstorable, value) if r), None)
    return None


class StrictSchema(Schema):
    """Unknown fields are refused, so a typo never silently does nothing."""

    class Meta:
        unknown = RAISE
        ordered = True

    @pre_load
    def _storable_values(self, data: Any, **_: Any) -> Any:
        # PostgreSQL cannot store NUL in text, and NaN would be served back as invalid JSON
        if isinstance(data, Mapping):
            keys = data.keys()
            bad = {str(k): [why] for k in keys if (why := _unstorable(data[k]) or _unstorable(k))}
            if bad:
                raise ValidationError(bad)
        return data


def name_field(**kwargs: Any) -> fields.String:
    return fields.String(validate=_dns_label, **kwargs)


def _text(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(max=1024), **kwargs)


sane_time = validate.Range(
    min=datetime(1970, 1, 1, tzinfo=UTC),
    max=datetime(9999, 12, 30, tzinfo=UTC),
    error="must lie between 1970 and 9999",
)

# what an override may not set: the ledger owns these, and the fit check counts them
_OWNED = {
    "id": "the app id comes from the environment's group and the service",
    "cpus": "set cpus on the allocation",
    "mem": "set mem on the allocation",
    "disk": "set disk on the allocation",
    "gpus": "berth does not place gpus",
    "instances": "set instances on the allocation",
    "constraints": "set constraints on the allocation",
    "upgradeStrategy": "set upgrade_strategy on the allocation",
    "portDefinitions": "host ports come from the ledger",
    "ports": "host ports come from the ledger",
    "requirePorts": "host ports come from the ledger",
    "networks": "set network on the allocation",
    "acceptedResourceRoles": "the cluster's mesos_role decides",
    "residency": "berth does not place persistent volumes",
}


def owned_problems(patch: Any, where: str) -> dict[str, list[str]]:
    """What a merge patch sets that berth owns, by dotted field (`where` its own name): it
    may change how the app runs, never what it takes or where it binds, nor the build's
    image or berth's labels. (Whether Marathon takes what it makes is checked when it is
    saved, on the definition it renders: ledger/renders.py.)"""
    if not isinstance(patch, dict):
        return {}
    bad = {f"{where}.{k}": [why] for k, why in _OWNED.items() if k in patch}
    container = patch.get("container", {})
    if container is None or not isinstance(container, dict):
        bad[f"{where}.container"] = [
            "the container runs the build's image: patch its fields, not all of it"
        ]
    else:
        if "portMappings" in container:
            bad[f"{where}.container.portMappings"] = ["host ports come from the ledger"]
        if "type" in container:
            bad[f"{where}.container.type"] = ["berth runs Docker containers"]
        docker = container.get("docker", {})
        if docker is None or not isinstance(docker, dict):
            bad[f"{where}.container.docker"] = [
                "the build's image runs there: patch its fields, not all of it"
            ]
        else:
            if {"network", "portMappings"} & set(docker):
                bad[f"{where}.container.docker"] = ["networking and ports come from the ledger"]
            if "image" in docker:
                bad[f"{where}.container.docker.image"] = [
                    "the image is the build's (?image= on render, image of a deploy)"
                ]
    labels = patch.get("labels")
    if isinstance(labels, dict):
        for key in labels:
            if str(key).startswith("BERTH_"):
                bad[f"{where}.labels.{key}"] = ["berth writes its BERTH_ labels itself"]
    return bad


# --- problems ---------------------------------------------------------------------------


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of berth is answered; more members may follow."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(metadata={"description": "a URI naming the kind of problem"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String(metadata={"description": "what went wrong and what to do about it"})
    instance = fields.String()
    request_id = fields.String()
    errors = fields.Dict(metadata={"description": "a message per invalid field (422)"})


# --- clusters ---------------------------------------------------------------------------


_MASTERS = (
    "URLs of the Mesos masters, whose /master/redirect names the leader; or a single "
    "zk://host:port[,host:port]/path where the masters register in ZooKeeper, the leader "
    "being the one with the lowest json.info_ node"
)
_MARATHON_URL = (
    "the Marathon URL; given alone, marathon_urls becomes [marathon_url]; "
    "read back, the first of marathon_urls"
)
_MARATHON_URLS = (
    "every Marathon instance; with several, berth asks any of them GET /v2/leader and "
    "calls the leader, asking again when it moves; one URL is called as it is"
)


class ClusterPatch(StrictSchema):
    mesos_masters = fields.List(
        fields.String(validate=validate.Length(max=2048)),
        validate=[validate.Length(min=1, max=16), _mesos_masters],
        metadata={"description": _MASTERS},
    )
    marathon_url = fields.String(validate=_http_url, metadata={"description": _MARATHON_URL})
    marathon_urls = fields.List(
        fields.String(validate=[_http_url, validate.Length(max=2048)]),
        validate=[validate.Length(min=1, max=16), _unique],
        metadata={"description": _MARATHON_URLS},
    )
    port_ranges = fields.List(
        fields.String(validate=validate.Length(max=32)),
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "host port ranges berth may hand out, like 31000-31999",
            "example": ["31000-31999"],
        },
    )
    description = _text()
    credentials_env = fields.String(
        allow_none=True,
        validate=FullMatch(
            r"^BERTH_CREDENTIALS_[A-Z0-9_]{1,200}$",
            error="must be the name of a variable starting with BERTH_CREDENTIALS_",
        ),
        metadata={
            "description": "name of an environment variable of berth's processes, starting "
            "with BERTH_CREDENTIALS_, holding 'user:password' (HTTP basic) or a header value "
            "like 'token=…'; the secret itself is never stored, and no other variable of "
            "berth's can be sent to a cluster"
        },
    )

    mesos_role = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={
            "description": "the role berth's tasks run as; other roles' reservations "
            "are not counted as capacity (default *)"
        },
    )
    executor_cpus = fields.Float(
        validate=validate.Range(min=0, max=4),
        metadata={"description": "cpus the executor adds to every task (Mesos: 0.1)"},
    )
    executor_mem = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=4096),
        metadata={"description": "MiB the executor adds to every task (Mesos: 32)"},
    )
    concurrent_deploys = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=1000),
        metadata={
            "description": "rolling upgrades that may run at once; the surge of the "
            "largest ones is kept free (default 1)"
        },
    )

    @validates_schema
    def _one_marathon(self, data: dict[str, Any], **_: Any) -> None:
        """marathon_url is the first of marathon_urls: both given, they must agree."""
        url, urls = data.get("marathon_url"), data.get("marathon_urls")
        if url is not None and urls and url.rstrip("/") != urls[0].rstrip("/"):
            raise ValidationError(
                "must be the first of marathon_urls, or left out", field_name="marathon_url"
            )


class ClusterIn(ClusterPatch):
    name = name_field(required=True)
    mesos_masters = fields.List(
        fields.String(validate=validate.Length(max=2048)),
        required=True,
        validate=[validate.Length(min=1, max=16), _mesos_masters],
        metadata={"description": _MASTERS},
    )

    @validates_schema
    def _some_marathon(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("marathon_url") is None and not data.get("marathon_urls"):
            raise ValidationError("give marathon_url or marathon_urls", field_name="marathon_url")

    port_ranges = fields.List(
        fields.String(validate=validate.Length(max=32)),
        load_default=lambda: ["31000-32000"],
        validate=validate.Length(min=1, max=64),
        metadata={"description": "defaults to Mesos' own default, 31000-32000"},
    )
    description = _text(load_default="")


class ClusterOut(Schema):
    name = fields.String()
    credentials_env = fields.String(allow_none=True)
    mesos_role = fields.String()
    executor_cpus = fields.Float()
    executor_mem = fields.Integer()
    concurrent_deploys = fields.Integer()
    mesos_masters = fields.List(fields.String())
    marathon_url = fields.String(metadata={"description": "the first of marathon_urls"})
    marathon_urls = fields.List(fields.String())
    port_ranges = fields.List(fields.String())
    description = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PortOut(Schema):
    port = fields.Integer()
    service = fields.String()
    environment = fields.String()
    port_name = fields.String()
    state = fields.String(metadata={"enum": ["assigned", "quarantined"]})
    assigned_at = fields.DateTime()
    released_at = fields.DateTime(allow_none=True)
    reusable_at = fields.DateTime(
        allow_none=True, metadata={"description": "when a quarantined port may be handed out"}
    )


class ClusterPortsOut(Schema):
    cluster = fields.String()
    port_ranges = fields.List(fields.String())
    ports = fields.List(fields.Nested(PortOut))


class SnapshotArgs(StrictSchema):
    full = fields.Boolean(load_default=False, metadata={"description": "include agents and apps"})


class LiveOut(Schema):
    """How live a cluster's state is (`flask --app app watch`)."""

    watching = fields.Boolean(
        metadata={
            "description": "a watcher holds the cluster with Marathon's event stream attached"
        }
    )
    last_event_at = fields.DateTime(
        allow_none=True, metadata={"description": "Marathon's time of the last event applied"}
    )
    last_event_age_seconds = fields.Float(allow_none=True)
    last_reconciled_at = fields.DateTime(
        allow_none=True, metadata={"description": "the watcher's last full reading"}
    )


class SnapshotOut(Schema):
    id = fields.Integer()
    cluster = fields.String()
    taken_at = fields.DateTime(metadata={"description": "first read with this content"})
    confirmed_at = fields.DateTime(metadata={"description": "last read with this content"})
    age_seconds = fields.Float(metadata={"description": "seconds since confirmed_at"})
    changed = fields.Boolean(metadata={"description": "sync only: the content was new"})
    mesos_version = fields.String()
    marathon_version = fields.String()
    agent_count = fields.Integer()
    app_count = fields.Integer()
    task_count = fields.Integer()
    live = fields.Nested(LiveOut)
    agents = fields.List(fields.Dict())
    apps = fields.List(fields.Dict())


class EnvironmentListArgs(StrictSchema):
    cluster = name_field(metadata={"description": "only the environments of this cluster"})


# --- environments -----------------------------------------------------------------------


class EnvironmentPatch(StrictSchema):
    cluster = name_field()
    marathon_group = fields.String(validate=[_group, validate.Length(max=255)])
    headroom = fields.Float(
        validate=validate.Range(min=0, max=0.9),
        metadata={"description": "share of each agent's cpus, mem and disk to keep free"},
    )
    defaults = fields.Dict(
        keys=fields.String(),
        metadata={"description": "defaults for the Marathon configs rendered in this environment"},
    )
    description = _text()

    @validates_schema
    def _owned(self, data: dict[str, Any], **_: Any) -> None:
        patch = (data.get("defaults") or {}).get("patch")
        problems = owned_problems(patch, "defaults.patch")
        if problems:
            raise ValidationError(problems)


class EnvironmentIn(EnvironmentPatch):
    name = name_field(required=True)
    cluster = name_field(required=True)
    marathon_group = fields.String(validate=[_group, validate.Length(max=255)], required=True)
    headroom = fields.Float(validate=validate.Range(min=0, max=0.9), load_default=0.0)
    defaults = fields.Dict(keys=fields.String(), load_default=dict)
    description = _text(load_default="")


class EnvironmentOut(Schema):
    name = fields.String()
    cluster = fields.String()
    marathon_group = fields.String()
    headroom = fields.Float()
    defaults = fields.Dict()
    description = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


# --- services ---------------------------------------------------------------------------


class NamedPort(StrictSchema):
    name = name_field(required=True, metadata={"example": "http"})
    protocol = fields.String(validate=validate.OneOf(["tcp", "udp"]), load_default="tcp")
    container_port = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=65535),
        allow_none=True,
        load_default=None,
        metadata={"description": "port inside the container in bridge mode; null: the host port"},
    )


class HealthCheck(StrictSchema):
    protocol = fields.String(
        validate=validate.OneOf(
            ["HTTP", "HTTPS", "TCP", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP", "COMMAND"]
        ),
        load_default="HTTP",
    )
    port = name_field(metadata={"description": "name of the service port to check"})
    path = fields.String(
        validate=[
            FullMatch(r"^/\S*$", error="must start with / and hold no spaces"),
            validate.Length(max=1024),
        ],
        load_default="/health",
    )
    command = fields.String(validate=validate.Length(max=4096))
    grace_period_seconds = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=3600), load_default=300
    )
    interval_seconds = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=3600), load_default=60
    )
    timeout_seconds = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=3600), load_default=20
    )
    max_consecutive_failures = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=1000), load_default=3
    )

    @validates_schema
    def _port_or_command(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("protocol") == "COMMAND":
            if not data.get("command"):
                raise ValidationError("a COMMAND health check needs a command", "command")
        elif not data.get("port"):
            raise ValidationError("name the service port to check", "port")


class Call(StrictSchema):
    service = name_field(required=True)
    fan_out = fields.Float(
        validate=validate.Range(min=0, min_inclusive=False, max=1000),
        load_default=1.0,
        metadata={"description": "requests to the callee per request to the caller"},
    )
    allow_cycle = fields.Boolean(
        metadata={
            "description": "this call may close a cycle (a callback); such calls do not "
            "order deploys nor carry load in plans. Shown only when true."
        }
    )


_consistency_exception = FullMatch(
    r"^(base_image|runtime_version|health_path|health_protocol|env:[A-Za-z_][A-Za-z0-9_]{0,127}\*?)$",
    error="must be base_image, runtime_version, health_path, health_protocol, env:NAME or "
    "env:PREFIX* (a name of letters, digits and '_')",
)


def _no_repeats(values: list[Any]) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValidationError(f"each exception once; repeated: {', '.join(map(str, repeated))}")


class ServicePatch(StrictSchema):
    runtime = fields.String(validate=validate.OneOf(["java", "node", "python", "dotnet", "other"]))
    team = fields.String(validate=TEAM_NAME)
    tags = fields.List(fields.String(validate=TEAM_NAME), validate=validate.Length(max=64))
    ports = fields.List(
        fields.Nested(NamedPort),
        validate=validate.Length(max=16),
        metadata={"by_name": True, "description": "a plain name means a tcp port of that name"},
    )
    health_check = fields.Nested(HealthCheck, allow_none=True)
    calls = fields.List(
        fields.Nested(Call),
        validate=validate.Length(max=256),
        metadata={"by_name": True, "description": "services it calls; a plain name: fan_out 1"},
    )
    description = _text()
    consistency_exceptions = fields.List(
        fields.String(validate=_consistency_exception),
        validate=[validate.Length(max=64), _no_repeats],
        metadata={
            "description": "differences between environments allowed on purpose: base_image, "
            "runtime_version, health_path, health_protocol, env:NAME or env:PREFIX*"
        },
    )
    dockerfile_template = fields.String(
        allow_none=True,
        validate=validate.Length(max=65536),
        metadata={
            "description": "this service's own Dockerfile template; $heap_mib, "
            "$java_opts, $expose, $mem_mib, $service, $environment are filled in"
        },
    )

    @pre_load
    def _by_name(self, data: Any, **_: Any) -> Any:
        """A plain name is short for {"name": …} in ports and {"service": …} in calls."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("calls"), list):
            data["calls"] = [{"service": c} if isinstance(c, str) else c for c in data["calls"]]
        if isinstance(data.get("ports"), list):
            data["ports"] = [{"name": p} if isinstance(p, str) else p for p in data["ports"]]
        return data

    @validates("ports")
    def _unique_port_names(self, ports: list[dict[str, Any]], **_: Any) -> None:
        # a missing or non-text name is the field's own error; only compare real names
        names = [p.get("name") for p in ports if isinstance(p, dict)]
        names = [n for n in names if isinstance(n, str)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationError(f"port names must be unique; repeated: {', '.join(dupes)}")

    @validates("calls")
    def _unique_calls(self, calls: list[dict[str, Any]], **_: Any) -> None:
        names = [c.get("service") for c in calls if isinstance(c, dict)]
        names = [n for n in names if isinstance(n, str)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationError(f"each service may be called once; repeated: {', '.join(dupes)}")


class ServiceIn(ServicePatch):
    name = name_field(required=True)
    runtime = fields.String(
        validate=validate.OneOf(["java", "node", "python", "dotnet", "other"]), required=True
    )
    team = fields.String(validate=TEAM_NAME, required=True)
    tags = fields.List(
        fields.String(validate=TEAM_NAME), validate=validate.Length(max=64), load_default=list
    )
    ports = fields.List(
        fields.Nested(NamedPort),
        validate=validate.Length(max=16),
        load_default=list,
        metadata={"by_name": True},
    )
    health_check = fields.Nested(HealthCheck, allow_none=True, load_default=None)
    calls = fields.List(
        fields.Nested(Call),
        validate=validate.Length(max=256),
        load_default=list,
        metadata={"by_name": True},
    )
    description = _text(load_default="")


class ServiceOut(Schema):
    name = fields.String()
    consistency_exceptions = fields.List(fields.String())
    dockerfile_template = fields.String(allow_none=True)
    runtime = fields.String()
    team = fields.String()
    tags = fields.List(fields.String())
    ports = fields.List(fields.Nested(NamedPort))
    health_check = fields.Nested(HealthCheck, allow_none=True)
    calls = fields.List(fields.Nested(Call))
    description = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ServiceListArgs(StrictSchema):
    team = fields.String(validate=TEAM_NAME)
    tag = fields.String(validate=TEAM_NAME)


# --- allocations ------------------------------------------------------------------------


class UpgradeStrategy(StrictSchema):
    minimum_health_capacity = fields.Float(validate=validate.Range(min=0, max=1), load_default=1.0)
    maximum_over_capacity = fields.Float(validate=validate.Range(min=0, max=1), load_default=1.0)


def _check_constraint(value: list[Any]) -> None:
    if not 2 <= len(value) <= 3 or not all(isinstance(v, str) for v in value):
        raise ValidationError("a constraint is [field, operator] or [field, operator, value]")
    field, operator = value[0], value[1]
    if not field:
        raise ValidationError("the constraint's field is empty (hostname or an attribute name)")
    if operator not in CONSTRAINT_OPERATORS:
        raise ValidationError(
            f"unknown operator '{operator}'; use one of {', '.join(CONSTRAINT_OPERATORS)}"
        )
    if operator in _NEEDS_VALUE and len(value) < 3:
        raise ValidationError(f"operator {operator} needs a value")
    if operator == "MAX_PER" and not re.fullmatch(r"[0-9]{1,6}", value[2]):
        raise ValidationError('MAX_PER needs a whole number, like ["rack", "MAX_PER", "2"]')
    if operator == "GROUP_BY" and len(value) > 2 and not re.fullmatch(r"[1-9][0-9]{0,5}", value[2]):
        raise ValidationError("GROUP_BY takes a whole number of groups, 1 or more")
    if operator == "UNIQUE" and len(value) > 2:
        raise ValidationError("UNIQUE takes no value")
    if operator in ("LIKE", "UNLIKE"):
        try:
            re.compile(value[2])
        except re.error as exc:
            raise ValidationError(f"{operator} needs a regular expression: {exc}") from exc


class AllocationIn(StrictSchema):
    cpus = fields.Float(
        required=True,
        validate=validate.Range(min=0, min_inclusive=False, max=256),
        metadata={"example": 0.5, "exclusiveMinimum": True},
    )
    mem = fields.Integer(
        strict=True,
        required=True,
        validate=validate.Range(min=32, max=1048576),
        metadata={"description": "MiB", "example": 1024},
    )
    disk = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=10485760),
        load_default=0,
        metadata={"description": "MiB"},
    )
    instances = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=10000), load_default=1
    )
    network = fields.String(validate=validate.OneOf(["host", "bridge"]), load_default="host")
    constraints = fields.List(
        fields.List(fields.String(validate=validate.Length(max=255)), validate=_check_constraint),
        validate=validate.Length(max=32),
        load_default=list,
        metadata={"example": [["hostname", "UNIQUE"]]},
    )
    upgrade_strategy = fields.Nested(
        UpgradeStrategy,
        load_default=lambda: {"minimum_health_capacity": 1.0, "maximum_over_capacity": 1.0},
    )
    overrides = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={
            "description": "JSON merge patch applied to the rendered Marathon app; it may not "
            "set what the ledger owns (resources, instances, ports, networks, constraints)"
        },
    )
    ports = fields.Dict(
        keys=fields.String(validate=_dns_label),
        values=fields.Integer(strict=True, validate=validate.Range(min=1, max=65535)),
        metadata={
            "description": "host ports asked for by port name; the others get the lowest free",
            "example": {"http": 31002},
        },
    )

    @validates("ports")
    def _distinct_ports(self, ports: dict[str, int], **_: Any) -> None:
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise ValidationError(f"'{seen[port]}' and '{name}' ask for the same port {port}")
            seen[port] = name

    @validates_schema
    def _owned(self, data: dict[str, Any], **_: Any) -> None:
        problems = owned_problems(data.get("overrides"), "overrides")
        if problems:
            raise ValidationError(problems)


class FitOut(Schema):
    """The verdict on the cluster after the change."""

    class Meta:
        unknown = INCLUDE

    checked = fields.Boolean(metadata={"description": "false: the cluster has no snapshot yet"})
    fits = fields.Boolean(metadata={"description": "level is fits or fits_after_moves"})
    level = fields.String(
        metadata={
            "description": "fits: as the cluster runs now; fits_after_moves: only once the "
            "running tasks in `moves` move (Marathon will not move them); does_not_fit: "
            "proven (see `proof`); not_proven: the search budget ran out first",
            "enum": ["fits", "fits_after_moves", "does_not_fit", "not_proven"],
        }
    )
    why = fields.String()
    snapshot_age_seconds = fields.Float()
    agents_used = fields.Integer()
    lower_bound = fields.Integer(metadata={"description": "no placement can use fewer agents"})
    surge = fields.Dict()
    unplaced = fields.List(fields.Dict())
    moves = fields.List(
        fields.Dict(),
        metadata={"description": "running tasks to move: demand, instance, from and to agent"},
    )
    proof = fields.String(
        metadata={"description": "why it does not fit for sure, or what would settle it"}
    )
    steps = fields.List(
        fields.String(), metadata={"description": "what the verdict ran: standing, re-pack, exact"}
    )
    seconds = fields.Float(metadata={"description": "how long the verdict took"})
    when = fields.Dict()


class AllocationOut(Schema):
    environment = fields.String()
    service = fields.String()
    cluster = fields.String()
    cpus = fields.Float()
    mem = fields.Integer()
    disk = fields.Integer()
    instances = fields.Integer()
    network = fields.String()
    constraints = fields.List(fields.List(fields.String()))
    upgrade_strategy = fields.Nested(UpgradeStrategy)
    overrides = fields.Dict()
    ports = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"example": {"http": 31002, "dubbo": 31003}},
    )
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    updated_by = fields.String()
    fit = fields.Nested(FitOut, metadata={"description": "after a PUT: does the cluster fit"})


class WriteArgs(StrictSchema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "answer without saving"})


class CheckedWriteArgs(WriteArgs):
    force = fields.Boolean(
        load_default=False,
        metadata={"description": "admin only: save even when the cluster would not fit"},
    )


# --- audit ------------------------------------------------------------------------------


class AuditArgs(StrictSchema):
    entity_type = fields.String(
        validate=validate.OneOf(
            [
                "cluster",
                "environment",
                "service",
                "allocation",
                "token",
                "reservation",
                "deployment",
                "plan",
            ]
        )
    )
    entity = fields.String(
        validate=validate.Length(max=160),
        metadata={"description": "a name, or environment/service for an allocation"},
    )
    actor = fields.String(validate=validate.Length(max=255))
    action = fields.String(validate=validate.Length(max=32))
    since = fields.AwareDateTime(default_timezone=None, validate=sane_time)
    until = fields.AwareDateTime(default_timezone=None, validate=sane_time)
    limit = fields.Integer(validate=validate.Range(min=1, max=1000), load_default=100)
    offset = fields.Integer(validate=validate.Range(min=0, max=10**9), load_default=0)


class AuditEventOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    request_id = fields.String()


class AuditPageOut(Schema):
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
    events = fields.List(fields.Nested(AuditEventOut))


# --- reservations -----------------------------------------------------------------------


class ReservationIn(StrictSchema):
    cluster = name_field(metadata={"description": "a cluster, or give an environment"})
    environment = name_field()
    service = name_field(
        metadata={
            "description": "the slots are more instances of this service's allocation in "
            "`environment` (required with it): they need its host ports and obey its "
            "constraints, counted with its instances; leave `constraints` out then"
        }
    )
    count = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=10000))
    cpus = fields.Float(
        required=True,
        validate=validate.Range(min=0, min_inclusive=False, max=256),
        metadata={"exclusiveMinimum": True},
    )
    mem = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=1048576))
    disk = fields.Integer(strict=True, validate=validate.Range(min=0, max=10485760), load_default=0)
    constraints = fields.List(
        fields.List(fields.String(validate=validate.Length(max=255)), validate=_check_constraint),
        validate=validate.Length(max=32),
        load_default=list,
    )
    starts_at = fields.AwareDateTime(required=True, default_timezone=None, validate=sane_time)
    ends_at = fields.AwareDateTime(
        required=True,
        default_timezone=None,
        validate=sane_time,
        metadata={"description": "exclusive: the window is [starts_at, ends_at)"},
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1024))

    @validates_schema
    def _window(self, data: dict[str, Any], **_: Any) -> None:
        if "starts_at" in data and "ends_at" in data and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("must be after starts_at", "ends_at")
        if not data.get("cluster") and not data.get("environment"):
            raise ValidationError("give a cluster or an environment", "cluster")
        if data.get("service") and not data.get("environment"):
            raise ValidationError("give the environment the service is allocated in", "service")


class ReservationOut(Schema):
    id = fields.Integer()
    cluster = fields.String()
    environment = fields.String(allow_none=True)
    service = fields.String(
        allow_none=True,
        metadata={"description": "the service whose allocation the slots add to, or null"},
    )
    count = fields.Integer()
    base_instances = fields.Integer(
        allow_none=True,
        metadata={
            "description": "for a service's reservation, the allocation's instances the "
            "slots were reserved on top of (a plan's: its instances before); null for "
            "plain slots"
        },
    )
    slots_used = fields.Integer(
        metadata={
            "description": "slots the allocation has taken into use by growing: "
            "min(count, max(0, its instances now - base_instances)), 0 once it is "
            "deleted; only count - slots_used are still held"
        }
    )
    cpus = fields.Float()
    mem = fields.Integer()
    disk = fields.Integer()
    constraints = fields.List(fields.List(fields.String()))
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    reason = fields.String()
    owner = fields.String()
    forced = fields.Boolean()
    state = fields.String(metadata={"enum": ["upcoming", "active", "expired"]})
    created_at = fields.DateTime()
    fit = fields.Nested(FitOut)


class ReservationListArgs(StrictSchema):
    cluster = name_field()
    environment = name_field()
    include_expired = fields.Boolean(load_default=False)


class CapacityOut(Schema):
    """Capacity of a cluster or an environment; resources as {cpus, mem, disk}."""

    class Meta:
        unknown = INCLUDE

    cluster = fields.String()
    environment = fields.String(allow_none=True)
    snapshot = fields.Dict()
    agents_active = fields.Integer()
    agents_inactive = fields.Integer()
    totals = fields.Dict(metadata={"description": "what the active agents offer berth's role"})
    allocated = fields.Dict(metadata={"description": "this scope's allocations (cluster: all)"})
    reserved = fields.Dict(metadata={"description": "now, and the peak over the next 30 days"})
    surge = fields.Dict(metadata={"description": "what the largest concurrent deploys add"})
    used = fields.Dict(metadata={"description": "what Mesos reports in use (all tasks)"})
    free = fields.Dict(
        metadata={
            "description": "the cluster's room left, whatever the scope: totals less every "
            "environment's allocations, the reservations active now, the surge, and the "
            "headroom kept on agents that hold instances"
        }
    )
    headroom = fields.Dict(metadata={"description": "share kept free, per environment"})
    headroom_kept = fields.Dict(
        metadata={"description": "what headroom keeps free now, summed over the agents"}
    )
    fits = fields.Boolean()
    level = fields.String(
        metadata={"enum": ["fits", "fits_after_moves", "does_not_fit", "not_proven"]}
    )
    moves = fields.List(fields.Dict(), metadata={"description": "running tasks to move"})
    proof = fields.String()
    when_it_stops_fitting = fields.Dict(allow_none=True)
    agents_used = fields.Integer()
    lower_bound = fields.Integer()
    unplaceable = fields.List(fields.Dict())
    shortfall = fields.Dict()
    forced = fields.List(fields.String())
    agents = fields.List(fields.Dict())


class MarathonArgs(StrictSchema):
    image = fields.String(
        required=True,
        validate=validate.Length(min=1, max=512),
        metadata={"description": "the build's image, REPO:TAG", "example": "registry/shop/a:1.2"},
    )
    build_url = fields.String(validate=validate.Length(max=2048))
    git_sha = fields.String(validate=FullMatch(r"^[0-9a-fA-F]{4,64}$", error="a git commit id"))


# --- deployments ------------------------------------------------------------------------


class DeploymentIn(StrictSchema):
    service = name_field(required=True)
    environment = name_field(required=True)
    image = fields.String(required=True, validate=validate.Length(min=1, max=512))
    build_url = fields.String(validate=validate.Length(max=2048))
    git_sha = fields.String(validate=FullMatch(r"^[0-9a-fA-F]{4,64}$", error="a git commit id"))


class ForceArgs(StrictSchema):
    force = fields.Boolean(
        load_default=False,
        metadata={
            "description": "admin only: deploy past a Marathon deployment that locks the app"
        },
    )


class DeploymentListArgs(StrictSchema):
    service = name_field()
    environment = name_field()
    limit = fields.Integer(validate=validate.Range(min=1, max=1000), load_default=50)


class DeploymentOut(Schema):
    id = fields.Integer()
    environment = fields.String()
    service = fields.String()
    app_id = fields.String()
    image = fields.String()
    build_url = fields.String(allow_none=True)
    git_sha = fields.String(allow_none=True)
    allocation_version = fields.Integer()
    config_hash = fields.String()
    config = fields.Dict(metadata={"description": "exactly what was sent to Marathon"})
    actor = fields.String()
    status = fields.String(metadata={"enum": ["pending", "deploying", "succeeded", "failed"]})
    error = fields.String(allow_none=True)
    marathon_deployment_id = fields.String(allow_none=True)
    marathon_version = fields.String(allow_none=True)
    forced = fields.Boolean()
    rollback_of = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    progress = fields.Dict(
        metadata={
            "description": "while it deploys: Marathon's step and steps, and the app's "
            "instances, tasks_running and tasks_healthy (healthy counts apps with health checks)"
        }
    )
    observed = fields.Boolean(metadata={"description": "false: Marathon could not be asked"})
    observation_error = fields.String()


class DockerfileArgs(StrictSchema):
    environment = name_field(required=True, metadata={"description": "whose allocation sizes it"})
