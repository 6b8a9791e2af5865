"""Whether Marathon takes an app definition, before berth saves, serves or sends it.

Two checks, as Marathon makes them: its JSON schema (`schema/AppDefinition.json`, draft-04,
the draft Marathon validated with; the schema names none, and under the newest draft its
tuple-form `items` would be invalid), then the rules its server checks that the schema
does not say. This is berth's own check: the simulator has one of its own, so that the two
disagree when berth is wrong. Findings carry the path in the definition and a message
that says what to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMA_DIR = Path(__file__).parent / "schema"
SCHEMA_ID = (
    "https://raw.githubusercontent.com/mesosphere/marathon/master/docs/docs/rest-api/"
    "public/api/v2/schema/AppDefinition.json"
)
# Marathon's app id segments (PathId): DNS-like labels
_SEGMENT = r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$"
# health check protocols that address a port (COMMAND runs a command instead)
_PORTED = {"HTTP", "HTTPS", "TCP", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"}
_KINDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


@dataclass(frozen=True)
class Finding:
    """Something Marathon would refuse: where in the definition, and what to do about it."""

    path: tuple[str | int, ...]
    message: str

    @property
    def where(self) -> str:
        """The path as `env.FEATURE_N` or `healthChecks.0.portIndex` ("" for the whole)."""
        return ".".join(str(p) for p in self.path)


@cache
def _validator() -> Draft4Validator:
    schema = json.loads((SCHEMA_DIR / "AppDefinition.json").read_text(encoding="utf-8"))
    registry: Registry = Registry().with_resource(
        SCHEMA_ID, Resource.from_contents(schema, default_specification=DRAFT4)
    )
    return Draft4Validator(schema, registry=registry, format_checker=FormatChecker())


def findings(definition: Any) -> list[Finding]:
    """Everything Marathon would refuse in the definition; empty when it takes it."""
    if not isinstance(definition, Mapping):
        return [Finding((), "must be a JSON object")]
    text = list(_unencodable(definition, ()))
    if text:
        return text  # the schema's regular expressions cannot read such text either
    schema = [f for e in _validator().iter_errors(definition) for f in _schema(e)]
    if schema:
        return sorted(schema, key=lambda f: [str(p) for p in f.path])
    return _server_rules(definition)


def _unencodable(value: Any, path: tuple[str | int, ...]) -> Iterator[Finding]:
    """Text that is not valid Unicode (lone surrogates): JSON carries it, nothing else can."""
    if isinstance(value, str):
        if not _encodable(value):
            yield Finding(path, "holds a lone surrogate (like \\ud800): not valid Unicode text")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and not _encodable(key):
                yield Finding((*path, key), "has a name that is not valid Unicode text")
            yield from _unencodable(item, (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _unencodable(item, (*path, i))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _schema(error: ValidationError) -> list[Finding]:
    path = tuple(error.absolute_path)
    rule, expected = error.validator, error.validator_value
    if rule == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return [Finding(path, "must be " + " or ".join(_KINDS.get(k, k) for k in kinds))]
    if rule == "additionalProperties" and isinstance(error.instance, Mapping):
        known = set(error.schema.get("properties", {}))
        patterned = error.schema.get("patternProperties", {})
        extra = [k for k in error.instance if k not in known and not patterned]
        return [Finding((*path, k), "is not a field Marathon knows here") for k in extra] or [
            Finding(path, error.message)
        ]
    if rule in ("oneOf", "anyOf"):
        kinds = [_KINDS.get(s.get("type", ""), "") for s in expected if isinstance(s, Mapping)]
        listed = " or ".join(k for k in kinds if k)
        return [Finding(path, f"must be {listed}" if listed else "is not a form Marathon knows")]
    if rule == "not" and not path:
        return [Finding(("cmd",), "give either cmd or args, not both")]
    words = {
        "minimum": f"must be at least {expected}",
        "maximum": f"must be at most {expected}",
        "minLength": f"must be at least {expected} characters long",
        "maxLength": f"must be at most {expected} characters long",
        "minItems": f"must hold at least {expected} items",
        "maxItems": f"must hold at most {expected} items",
        "pattern": f"must match the pattern {expected}",
        "enum": "must be one of " + ", ".join(json.dumps(v) for v in expected or []),
        "required": error.message.replace("is a required property", "is required"),
        "uniqueItems": "must not repeat an item",
    }
    return [Finding(path, words.get(str(rule), error.message))]


def _server_rules(d: Mapping[str, Any]) -> list[Finding]:
    """The rules Marathon's server checks beyond its schema (only on a schema-valid app)."""
    out: list[Finding] = []
    for segment in [s for s in str(d.get("id", "")).split("/") if s] or [""]:
        if not re.fullmatch(_SEGMENT, segment):
            out.append(Finding(("id",), f"segment '{segment}' is not a DNS label"))
    if d.get("cmd") and d.get("args"):
        out.append(Finding(("cmd",), "give either cmd or args, not both"))
    container = d.get("container") or {}
    if not (d.get("cmd") or d.get("args") or container.get("docker") or container.get("appc")):
        out.append(Finding((), "an app needs cmd, args or a container image"))
    networks = [n.get("mode") for n in d.get("networks") or []]
    host = not networks or networks == ["host"]
    definitions = list(d.get("portDefinitions") or [])
    mappings = list(container.get("portMappings") or [])
    if host and mappings:
        out.append(Finding(("container", "portMappings"), "is not for host networking"))
    if not host and definitions:
        out.append(Finding(("portDefinitions",), "is only for host networking"))
    ports = definitions if host else mappings
    where: tuple[str, ...] = ("portDefinitions",) if host else ("container", "portMappings")
    if _repeats([p.get("name") for p in ports if p.get("name")]):
        out.append(Finding(where, "port names must not repeat"))
    key = "port" if host else "hostPort"
    if _repeats([p.get(key) for p in ports if p.get(key)]):
        out.append(Finding(where, "host ports must not repeat"))
    # berth plans every host port: a bridge app's mapping without one would get a random one
    for i, m in enumerate(mappings):
        if not host and not m.get("hostPort"):
            out.append(
                Finding(("container", "portMappings", i, "hostPort"), "must be the ledger's port")
            )
    if (container.get("docker") or {}).get("network"):
        out.append(Finding(("container", "docker", "network"), "use networks instead"))
    count = len(ports) if ports or not host else 1  # host, no definitions: one port
    names = {p.get("name") for p in ports}
    for i, check in enumerate(d.get("healthChecks") or []):
        index = check.get("portIndex")
        ported = check.get("protocol", "HTTP") in _PORTED and "command" not in check
        if ported and index is not None and index >= count:
            out.append(
                Finding(("healthChecks", i, "portIndex"), f"must address one of {count} ports")
            )
        elif ported and index is None and "port" not in check and count != 1:
            out.append(
                Finding(
                    ("healthChecks", i),
                    f"needs a portIndex (or a port): the app has {count} ports",
                )
            )
    for i, check in enumerate(d.get("readinessChecks") or []):
        name = check.get("portName", "http-api")
        if name not in names:
            out.append(
                Finding(("readinessChecks", i, "portName"), f"names no port of the app: {name}")
            )
    return out


def _repeats(values: Sequence[Any]) -> bool:
    return len(values) != len(set(values))
