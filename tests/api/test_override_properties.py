"""Overrides generated from Marathon's own schema, and junk around them: each one is either
refused with 422, or saved, rendered schema-valid, and taken by the simulator's Marathon
(whose check is its own, independent of berth's). No answer is a 5xx, and no definition
Marathon refuses is ever served.

`BERTH_OVERRIDE_EXAMPLES` sets how many are tried (default 120, for the suite's time).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from marathon.validation import findings
from simulator import Simulator, serve
from simulator.validation import app_problems
from tests import factories as f
from tests.conftest import Api

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "marathon/schema/AppDefinition.json").read_text()
)
# what berth owns and an override may not set (api/schemas.py): tried in the junk only
OWNED = {
    "id",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "instances",
    "constraints",
    "upgradeStrategy",
    "portDefinitions",
    "ports",
    "requirePorts",
    "networks",
    "acceptedResourceRoles",
    "residency",
}
KEYS = sorted(k for k in SCHEMA["properties"] if k not in OWNED)
EXAMPLES = int(os.environ.get("BERTH_OVERRIDE_EXAMPLES", "120"))
IMAGE = "registry.local/shop/order-service:1.0"

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values a draft-04 schema describes, for the keywords Marathon's schema uses (mostly
    valid ones: what they miss, the junk and the server's rules catch)."""
    while "$ref" in schema:
        schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for either in ("oneOf", "anyOf"):
        if either in schema:
            return st.one_of([from_schema(s, depth + 1) for s in schema[either]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, depth) for k in kind])
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda t: len(t) < 200)
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 20))
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", -10), schema.get("maximum", 10**6)
        if kind == "integer":
            return st.integers(int(low), int(high))
        return st.floats(low, high, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = schema.get("items", {})
        if isinstance(items, list) or depth > 4:
            return st.just([])
        return st.lists(
            from_schema(items, depth + 1), min_size=schema.get("minItems", 0), max_size=2
        )
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return st.just({})
        props = schema.get("properties") or {}
        required = [k for k in schema.get("required", []) if k in props]
        optional = [k for k in props if k not in required]
        fixed = st.fixed_dictionaries(
            {k: from_schema(props[k], depth + 1) for k in required},
            optional={k: from_schema(props[k], depth + 1) for k in optional[:8]},
        )
        patterned = schema.get("patternProperties") or {}
        if patterned and not props:
            pattern, sub = next(iter(patterned.items()))
            keys = st.from_regex(pattern, fullmatch=True).filter(lambda t: 0 < len(t) < 30)
            return st.dictionaries(keys, from_schema(sub, depth + 1), max_size=2)
        return fixed
    return JSON


def _value(key: str) -> st.SearchStrategy[Any]:
    return from_schema(SCHEMA["properties"][key])


# an override: a few fields as the schema has them, or anything at all around them
SCHEMA_BASED = st.lists(
    st.sampled_from(KEYS).flatmap(lambda k: _value(k).map(lambda v: (k, v))), max_size=3
).map(dict)
JUNK = st.dictionaries(st.sampled_from([*KEYS, *sorted(OWNED), "junk"]), JSON, max_size=3)
OVERRIDES = st.one_of(SCHEMA_BASED, SCHEMA_BASED, JUNK)


@pytest.fixture
def cluster(admin: Api, ops: Api) -> Iterator[str]:
    sim = Simulator(agents=3, seed=6)
    with serve(sim) as server:
        f.synced_world(admin, server.url)
        yield server.url


def test_an_override_is_refused_or_makes_a_definition_marathon_takes(
    ops: Api, cluster: str
) -> None:
    tally: Counter[str] = Counter()
    marathon = requests.Session()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # a failure is reported as found: each try
        # is a request and a deploy, and shrinking would repeat hundreds of them
    )
    @given(OVERRIDES)
    def run(overrides: dict[str, Any]) -> None:
        tally["tried"] += 1
        saved = f.allocate(ops, instances=1, mem=256, overrides=overrides)
        assert saved.status_code < 500, (overrides, saved.get_json())
        if saved.status_code == 422:
            tally["refused"] += 1
            return
        assert saved.status_code in (200, 201), (overrides, saved.get_json())
        url = f.allocation_url("production", "order-service") + "/marathon?image=" + IMAGE
        served = ops.get(url)
        assert served.status_code == 200, (overrides, served.get_json())
        definition = served.get_json()
        assert findings(definition) == [], (overrides, findings(definition))
        assert app_problems(definition) == [], (overrides, app_problems(definition))
        taken = marathon.put(  # the whole app, as berth deploys it
            f"{cluster}/v2/apps{definition['id']}?force=true&partialUpdate=false",
            json=definition,
            timeout=10,
        )
        assert taken.status_code in (200, 201), (overrides, taken.text[:500])
        tally["rendered valid"] += 1

    run()
    print(
        f"\noverrides tried {tally['tried']}: refused {tally['refused']}, "
        f"rendered valid {tally['rendered valid']}"
    )
    assert tally["refused"] and tally["rendered valid"]  # both sides were reached
    assert tally["refused"] + tally["rendered valid"] == tally["tried"]
