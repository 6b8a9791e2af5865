"""What the ledger turns into a Marathon app definition, and the check that nothing broken
is saved, served or sent: every definition is held to Marathon's schema and rules
(marathon/validation.py) before an override or a default that makes it is saved, and
before a render is served or deployed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import ConflictError, InvalidError
from marathon.render import Port, RenderInput, render
from marathon.validation import Finding, findings
from models import Allocation, Environment, Service, ServiceDependency

# the image a definition is checked with when no build is at hand
IMAGE_PLACEHOLDER = "registry.invalid/replace-me:IMAGE"
# how many allocations with overrides an environment's new defaults are checked against
DEFAULTS_CHECKED = 500


class InvalidDefinitionError(ConflictError):
    """A definition berth would serve or send that Marathon refuses (data saved before the
    checks, or a default that breaks an allocation's overrides): 409, never sent."""

    title = "Invalid app definition"


def render_input(
    session: Session,
    alloc: Allocation,
    image: str,
    build_url: str | None = None,
    git_sha: str | None = None,
    callees: Mapping[int, Sequence[str]] | None = None,
) -> RenderInput:
    """`callees`: `callees_in(session, env)`, when many allocations of one environment are
    rendered, so that their dependencies are read once, not once each."""
    env, service = alloc.environment, alloc.service
    held = {p.port_name: p.port for p in alloc.ports}
    ports = tuple(
        Port(p.name, held[p.name], p.protocol, p.container_port)
        for p in service.ports
        if p.name in held
    )
    if callees is None:
        callees = callees_in(session, env.id, caller_id=service.id)
    return RenderInput(
        group=env.marathon_group,
        service=service.name,
        runtime=service.runtime,
        team=service.team,
        cpus=alloc.cpus,
        mem=alloc.mem,
        disk=alloc.disk,
        instances=alloc.instances,
        network=alloc.network,
        ports=ports,
        image=image,
        allocation_version=alloc.version,
        health_check=service.health_check,
        constraints=tuple(tuple(c) for c in alloc.constraints),
        minimum_health_capacity=alloc.minimum_health_capacity,
        maximum_over_capacity=alloc.maximum_over_capacity,
        dependencies=tuple(sorted(callees.get(service.id, ()))),
        defaults=env.defaults or {},
        overrides=alloc.overrides or {},
        build_url=build_url,
        git_sha=git_sha,
    )


def callees_in(session: Session, env_id: int, caller_id: int | None = None) -> dict[int, list[str]]:
    """Caller service id → the names of the services it calls that are allocated in the
    environment (Marathon's dependencies), for one caller or for all."""
    query = (
        select(ServiceDependency.caller_id, Service.name)
        .join(Service, ServiceDependency.callee_id == Service.id)
        .join(Allocation, Allocation.service_id == Service.id)
        .where(Allocation.environment_id == env_id)
    )
    if caller_id is not None:
        query = query.where(ServiceDependency.caller_id == caller_id)
    out: dict[int, list[str]] = {}
    for caller, name in session.execute(query):
        out.setdefault(caller, []).append(name)
    return out


# --- the checks ------------------------------------------------------------------------------


def _from(tree: Any, path: Sequence[str | int]) -> bool:
    """Whether a merge patch `tree` sets what lies at `path` (a patch that sets a list or a
    value sets everything under it)."""
    if not path:
        return bool(tree)
    at = tree
    for part in path:
        if not isinstance(at, Mapping):
            return True  # the patch set a value above: all of it is the patch's
        if part not in at:
            return False
        at = at[part]
    return True


def _field(f: Finding, overrides: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """The field of the request that a finding comes from: the allocation's overrides, the
    environment's defaults, or berth's own rendering (`definition`)."""
    path = f.path
    dotted = ".".join(str(p) for p in path)

    def named(prefix: str) -> str:
        return f"{prefix}.{dotted}" if dotted else prefix

    if _from(overrides, path):
        return named("overrides")
    if _from(defaults.get("patch") or {}, path):
        return named("defaults.patch")
    if path[:1] in (("env",), ("labels",)) and len(path) > 1:
        if path[1] in (defaults.get(str(path[0])) or {}):
            return named("defaults")
    return named("definition")


def check_allocation_definition(session: Session, alloc: Allocation) -> None:
    """422 naming the override (or default) that would make the allocation's definition
    one Marathon refuses; the caller's transaction is then rolled back, nothing saved."""
    definition = render(render_input(session, alloc, IMAGE_PLACEHOLDER))
    found = findings(definition)
    if found:
        env = alloc.environment.defaults or {}
        raise InvalidError(_errors(found, alloc.overrides or {}, env))


def _errors(
    found: Iterable[Finding], overrides: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for f in found:
        messages = errors.setdefault(_field(f, overrides, defaults), [])
        if f.message not in messages:
            messages.append(f.message)
    return errors


def check_environment_defaults(session: Session, env: Environment) -> None:
    """422 when the environment's defaults make a definition Marathon refuses: a Java
    and a Node service of their own, and the allocations there with overrides of theirs."""
    defaults = env.defaults or {}
    errors: dict[str, list[str]] = {}
    for probe in _probes(env):
        for field, messages in _errors(findings(render(probe)), {}, defaults).items():
            errors.setdefault(field, []).extend(m for m in messages if m not in errors[field])
    allocs = session.scalars(
        select(Allocation).where(Allocation.environment_id == env.id).order_by(Allocation.id)
    )
    checked = 0
    for alloc in allocs:
        if not alloc.overrides or checked >= DEFAULTS_CHECKED:
            continue
        checked += 1
        found = findings(render(render_input(session, alloc, IMAGE_PLACEHOLDER)))
        if found:
            # it was checked when its overrides were saved: the new defaults break it
            key = f"defaults (with the overrides of {alloc.service.name})"
            errors[key] = [f"{f.where or '(the app)'}: {f.message}" for f in found]
    if errors:
        raise InvalidError(errors)


def _probes(env: Environment) -> list[RenderInput]:
    common = {
        "group": env.marathon_group,
        "team": "probe",
        "cpus": 0.5,
        "mem": 1024,
        "disk": 0,
        "instances": 1,
        "image": IMAGE_PLACEHOLDER,
        "allocation_version": 1,
        "defaults": env.defaults or {},
    }
    return [
        RenderInput(
            service="probe-java",
            runtime="java",
            network="host",
            ports=(Port("http", 31000), Port("dubbo", 31001)),
            health_check={"protocol": "HTTP", "port": "http", "path": "/health"},
            **common,
        ),
        RenderInput(
            service="probe-node",
            runtime="node",
            network="bridge",
            ports=(Port("http", 31002, container_port=3000),),
            **common,
        ),
    ]


def require_valid(definition: Mapping[str, Any], what: str) -> None:
    """409 instead of serving or sending a definition Marathon refuses."""
    found = findings(definition)
    if found:
        shown = "; ".join(f"{f.where or '(the app)'}: {f.message}" for f in found[:5])
        raise InvalidDefinitionError(
            f"the app definition of {what} is one Marathon refuses ({shown}); fix its "
            "overrides or its environment's defaults",
            findings=[{"path": f.where, "message": f.message} for f in found],
        )
