"""Validating app definitions: Marathon's JSON schema, then the rules the schema misses.

The schema names no draft (`"$schema": "http://json-schema.org/schema#"`), so
`jsonschema.validate()` would fall back to the newest draft, under which its
tuple-form `items` is invalid. Marathon validated it with draft-04, so does
this. The cross-field rules come from Marathon's `AppValidation.scala` and
`SchedulingValidation.scala`, with Marathon's own messages, because a client
shows those messages to its users.

Type mismatches are answered as Marathon's JSON readers do, 400 "Invalid JSON"
with `error.expected.js…`; everything else is 422 "Object is not valid".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from simulator.apps import HOST, MARATHON_CHECKS, network_mode, port_definitions, port_mappings

SCHEMA_DIR = Path(__file__).parent / "schema"
GROUP_ID = (
    "https://raw.githubusercontent.com/mesosphere/marathon/master/docs/docs/rest-api/"
    "public/api/v2/schema/Group.json"
)
APP_ID = GROUP_ID.rsplit("/", 1)[0] + "/AppDefinition.json"
# Marathon's PathId segment rule (state/PathId.scala)
ID_SEGMENT = r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
JS_TYPES = {
    "string": "jsstring",
    "integer": "jsnumber",
    "number": "jsnumber",
    "boolean": "jsboolean",
    "array": "jsarray",
    "object": "jsobject",
    "null": "jsnull",
}
CMD_ARGS_CONTAINER = (
    "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
)


@dataclass(frozen=True)
class Problem:
    """One finding: `syntax` ones are 400 "Invalid JSON", the rest 422."""

    path: str
    message: str
    syntax: bool = False


def _load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


@cache
def app_validator() -> Draft4Validator:
    return Draft4Validator(_load("AppDefinition.json"), format_checker=FormatChecker())


@cache
def group_validator() -> Draft4Validator:
    """Group.json refers to `./AppDefinition.json`; both live in one offline registry."""
    group = _load("Group.json")
    registry: Registry = Registry().with_resources(
        [
            (GROUP_ID, Resource.from_contents(group, default_specification=DRAFT4)),
            (APP_ID, Resource.from_contents(_load("AppDefinition.json"), DRAFT4)),
        ]
    )
    return Draft4Validator(group, registry=registry, format_checker=FormatChecker())


def marathon_path(parts: Iterable[str | int]) -> str:
    """Marathon's path notation: `/portDefinitions(0)/name`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"({part})"
        else:
            out += f"/{part}"
    return out or "/"


def details(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    """Marathon's `details`: one entry per path, its messages in order, no repeats."""
    grouped: dict[str, list[str]] = {}
    for problem in problems:
        messages = grouped.setdefault(problem.path, [])
        if problem.message not in messages:
            messages.append(problem.message)
    return [{"path": path, "errors": errors} for path, errors in grouped.items()]


def _schema_problems(error: ValidationError) -> list[Problem]:
    path = list(error.absolute_path)
    if error.validator == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = expected[0]
        return [Problem(marathon_path(path), f"error.expected.{JS_TYPES[expected]}", syntax=True)]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extra = [
            key
            for key in error.instance
            if key not in allowed and not any(re.search(p, key) for p in patterns)
        ]
        return [
            Problem(marathon_path([*path, key]), f"Additional property '{key}' is not allowed")
            for key in extra
        ]
    if error.validator == "not" and not path:
        return [Problem("/", "AppDefinition must not contain both 'cmd' and 'args'.")]
    return [Problem(marathon_path(path), error.message)]


def schema_problems(definition: Any, validator: Draft4Validator | None = None) -> list[Problem]:
    validator = validator or app_validator()
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(definition), key=lambda e: list(e.absolute_path)):
        problems.extend(_schema_problems(error))
    return problems


def _unique(values: Sequence[Any]) -> bool:
    return len(set(values)) == len(values)


def _id_problems(app_id: str) -> list[Problem]:
    segments = [s for s in app_id.split("/") if s]
    if not segments:
        return [Problem("/id", "must not be root")]
    bad = [s for s in segments if not re.fullmatch(ID_SEGMENT, s)]
    return [
        Problem(
            "/id",
            f"'{segment}' must fully match regular expression '{ID_SEGMENT.strip('^$')}'",
        )
        for segment in bad
    ]


def _port_problems(definition: dict[str, Any]) -> list[Problem]:
    problems = []
    mode = network_mode(definition)
    # legacy `ports` of a bridge app are its service ports (old GET bodies carry them)
    if mode == HOST:
        definitions = port_definitions(definition) or []
    else:
        definitions = definition.get("portDefinitions") or []
    mappings = port_mappings(definition) or []
    where = "/portDefinitions"
    names = [pd["name"] for pd in definitions if pd.get("name")]
    if not _unique(names):
        problems.append(Problem(where, "Port names must be unique."))
    ports = [pd.get("port", 0) for pd in definitions if pd.get("port", 0)]
    if not _unique(ports):
        problems.append(Problem(where, "Ports must be unique."))
    where = "/container/portMappings"
    names = [m["name"] for m in mappings if m.get("name")]
    if not _unique(names):
        problems.append(Problem(where, "Port names must be unique."))
    host_ports = [m["hostPort"] for m in mappings if m.get("hostPort")]
    if not _unique(host_ports):
        problems.append(Problem(where, "Host ports must be unique."))
    if mode == HOST and mappings:
        problems.append(Problem("/", "portMappings are not allowed with host-networking"))
    if mode != HOST and definitions:
        problems.append(Problem("/", "portDefinitions are only allowed with host-networking"))
    return problems


def _constraint_problems(constraints: Sequence[Sequence[str]]) -> list[Problem]:
    problems = []
    for index, constraint in enumerate(constraints):
        where = marathon_path(["constraints", index])
        operator = constraint[1]
        value = constraint[2] if len(constraint) > 2 else None
        message = None
        if not constraint[0]:
            message = "Missing field and operator"
        elif operator == "UNIQUE" and value is not None:
            message = "Value specified but not used"
        elif operator in ("CLUSTER", "IS") and not value:
            message = "Missing value"
        elif operator == "GROUP_BY" and value is not None and not _is_int(value):
            message = "Value was specified but is not a number"
        elif operator == "MAX_PER" and (value is None or not _is_int(value)):
            message = "Value was not specified or is not a number"
        elif operator in ("LIKE", "UNLIKE"):
            if value is None:
                message = "A regular expression value must be provided"
            else:
                try:
                    re.compile(value)
                except re.error:
                    message = f"'{value}' is not a valid regular expression"
        if message:
            problems.append(Problem(where, message))
    return problems


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check_problems(definition: dict[str, Any]) -> list[Problem]:
    problems = []
    mode = network_mode(definition)
    if mode == HOST:
        indexed = port_definitions(definition)
        count = 1 if indexed is None else len(indexed)
        names = {pd.get("name") for pd in indexed or [{"name": "default"}]}
    else:
        indexed = port_mappings(definition) or []
        count = len(indexed)
        names = {m.get("name") for m in indexed}
    for index, check in enumerate(definition.get("healthChecks") or []):
        protocol = check.get("protocol", "HTTP")
        if protocol not in MARATHON_CHECKS or "command" in check:
            continue
        port_index = check.get("portIndex")
        valid = port_index < count if port_index is not None else ("port" in check or count == 1)
        if not valid:
            problems.append(
                Problem(
                    marathon_path(["healthChecks", index]),
                    "Health check port indices must address an element of the ports array "
                    "or container port mappings.",
                )
            )
    for index, check in enumerate(definition.get("readinessChecks") or []):
        name = check.get("portName", "http-api")
        if name not in names:
            problems.append(
                Problem(
                    marathon_path(["readinessChecks", index, "portName"]),
                    f"No port definition reference for portName {name}",
                )
            )
    return problems


def server_problems(definition: dict[str, Any]) -> list[Problem]:
    """Marathon's server-side rules; only run on a definition that passed the schema."""
    problems = _id_problems(definition["id"])
    problems += _port_problems(definition)
    problems += _constraint_problems(definition.get("constraints") or [])
    problems += _check_problems(definition)
    has_cmd = bool(definition.get("cmd"))
    has_args = bool(definition.get("args"))
    container = definition.get("container") or {}
    has_image = bool(container.get("docker") or container.get("appc"))
    if not ((has_cmd != has_args) or (not (has_cmd and has_args) and has_image)):
        problems.append(Problem("/", CMD_ARGS_CONTAINER))
    return problems


def app_problems(definition: Any) -> list[Problem]:
    """Everything wrong with an app definition; empty when Marathon would take it."""
    if not isinstance(definition, dict):
        return [Problem("", "error.expected.jsobject", syntax=True)]
    problems = schema_problems(definition)
    if problems:
        return problems
    return server_problems(definition)


def group_problems(group: Any) -> list[Problem]:
    """A group against Group.json, then every app in it against the server-side rules."""
    if not isinstance(group, dict):
        return [Problem("", "error.expected.jsobject", syntax=True)]
    problems = schema_problems(group, group_validator())
    if problems:
        return problems
    for path, app in walk_group(group):
        for problem in server_problems(app):
            problems.append(
                Problem(marathon_path(path) + problem.path.rstrip("/"), problem.message)
            )
    return problems


def walk_group(group: dict[str, Any], path: tuple[str | int, ...] = ()) -> list[tuple]:
    """Every app of a group and its subgroups, with its path in the document."""
    found: list[tuple] = []
    for index, app in enumerate(group.get("apps") or []):
        found.append(((*path, "apps", index), app))
    for index, sub in enumerate(group.get("groups") or []):
        found.extend(walk_group(sub, (*path, "groups", index)))
    return found
