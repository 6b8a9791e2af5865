"""Generated clusters for property tests, and a checker of placements that shares nothing
with allocator/: what it calls broken, it works out from the rules themselves."""

from __future__ import annotations

import math
import re
from collections import Counter

from hypothesis import strategies as st

from allocator.model import Agent, Demand, Placement

PORTS = list(range(31000, 31013))  # the agents offer 31000-31010, with holes

CONSTRAINTS = [
    ("hostname", "UNIQUE"),
    ("rack", "UNIQUE"),
    ("rack", "MAX_PER", "2"),
    ("zone", "GROUP_BY"),
    ("rack", "CLUSTER"),
    ("zone", "CLUSTER", "b"),
    ("zone", "LIKE", "[ab]"),
    ("zone", "UNLIKE", "a"),
    ("zone", "IS", "c"),
    ("hostname", "IS", "agent-1"),
]


@st.composite
def agents(draw: st.DrawFn) -> list[Agent]:
    out = []
    for i in range(draw(st.integers(2, 6))):
        cpus = draw(st.sampled_from([2.0, 4.0, 8.0]))
        mem = draw(st.sampled_from([2048.0, 4096.0, 8192.0]))
        busy = draw(st.sampled_from([0.0, 0.0, 0.25]))
        hole = draw(st.one_of(st.none(), st.integers(31000, 31010)))
        ranges = ((31000, 31010),)
        if hole is not None:
            ranges = tuple(
                (lo, hi) for lo, hi in ((31000, hole - 1), (hole + 1, 31010)) if lo <= hi
            )
        attrs = {"zone": draw(st.sampled_from("abc"))}
        if draw(st.booleans()) or i == 0:
            attrs["rack"] = draw(st.sampled_from(["r1", "r2"]))
        out.append(
            Agent(
                f"id-{i}",
                f"agent-{i}",
                cpus * (1 - busy),
                mem * (1 - busy),
                1000.0,
                ranges,
                attrs,
                total_cpus=cpus,
                total_mem=mem,
                total_disk=1000.0,
            )
        )
    return out


@st.composite
def demands(draw: st.DrawFn, group_by: bool = True) -> list[Demand]:
    out: list[Demand] = []
    pool = [c for c in CONSTRAINTS if group_by or c[1] != "GROUP_BY"]
    for i in range(draw(st.integers(1, 6))):
        shared = out and draw(st.integers(0, 4)) == 0
        # most demands have no constraint, or one; a few have two
        picked = draw(st.lists(st.sampled_from(pool), max_size=2)) if draw(st.booleans()) else []
        constraints = tuple(sorted(set(picked)))
        out.append(
            Demand(
                key=f"d{i}",
                count=draw(st.integers(1, 3)),
                cpus=draw(st.sampled_from([0.25, 0.5, 1.0, 2.0])),
                mem=float(draw(st.sampled_from([256, 512, 1024, 2048, 3000]))),
                disk=float(draw(st.sampled_from([0, 0, 300]))),
                ports=tuple(sorted(set(draw(st.lists(st.sampled_from(PORTS), max_size=1))))),
                # a demand sharing a group (a surge) shares its constraints too
                constraints=out[-1].constraints if shared else constraints,
                headroom=draw(st.sampled_from([0.0, 0.0, 0.1, 0.25])),
                group=out[-1].constraint_group if shared else "",
            )
        )
    return out


def attribute(agent: Agent, name: str) -> str | None:
    return agent.hostname if name == "hostname" else agent.attributes.get(name)


def broken(agents: list[Agent], demands: list[Demand], p: Placement) -> list[str]:
    """Every rule that the placement breaks (empty when it is sound)."""
    by_id = {a.id: a for a in agents}
    out = []
    load: dict[str, list[float]] = {}
    keep: dict[str, float] = {}
    ports: dict[str, Counter[int]] = {}
    seen: dict[tuple[str, str, str], Counter[str | None]] = {}
    totals: Counter[str] = Counter()
    for d in demands:
        totals[d.constraint_group] += d.count
    for d in demands:
        placed = p.assignments[d.key]
        missing = sorted(u.index for u in p.unplaced if u.key == d.key)
        if missing != list(range(len(placed) + 1, d.count + 1)):
            out.append(f"{d.key}: instances neither placed nor explained")
        for agent_id in placed:
            a = by_id[agent_id]
            acc = load.setdefault(agent_id, [0.0, 0.0, 0.0])
            for r, size in enumerate((d.cpus, d.mem, d.disk)):
                acc[r] += size
            keep[agent_id] = max(keep.get(agent_id, 0.0), d.headroom)
            for port in d.ports:
                ports.setdefault(agent_id, Counter())[port] += 1
                if not any(lo <= port <= hi for lo, hi in a.ports):
                    out.append(f"{d.key}: port {port} outside {agent_id}'s ranges")
            for c in d.constraints:
                field, op, arg = c[0], c[1], (c[2] if len(c) > 2 else None)
                value = attribute(a, field)
                ok = {
                    "IS": value == arg,
                    "LIKE": value is not None and re.fullmatch(arg or "", value) is not None,
                    "UNLIKE": value is None or re.fullmatch(arg or "", value) is None,
                    "CLUSTER": value is not None and (not arg or value == arg),
                }.get(op, value is not None)
                if not ok:
                    out.append(f"{d.key} on {agent_id}: {c}")
                seen.setdefault((d.constraint_group, field, op), Counter())[value] += 1
    for agent_id, acc in load.items():
        a = by_id[agent_id]
        room = [
            f - keep[agent_id] * (t if t is not None else f)
            for f, t in zip(
                (a.cpus, a.mem, a.disk), (a.total_cpus, a.total_mem, a.total_disk), strict=True
            )
        ]
        if any(x > r + 1e-6 for x, r in zip(acc, room, strict=True)):
            out.append(f"{agent_id} holds more than its room after headroom")
    for agent_id, held in ports.items():
        if any(n > 1 for n in held.values()):
            out.append(f"{agent_id}: two instances with one port")
    for d in demands:
        for c in d.constraints:
            field, op, arg = c[0], c[1], (c[2] if len(c) > 2 else None)
            per_value = seen.get((d.constraint_group, field, op), Counter())
            if op == "UNIQUE":
                limit = 1
            elif op == "MAX_PER":
                limit = int(arg or 1)
            elif op == "GROUP_BY":
                spread = len({attribute(a, field) for a in agents} - {None})
                limit = math.ceil(totals[d.constraint_group] / max(1, int(arg) if arg else spread))
            else:
                limit = 10**9
            if any(n > limit for n in per_value.values()):
                out.append(f"{d.key}: {c} over its limit")
            if op == "CLUSTER" and len(per_value) > 1:
                out.append(f"{d.key}: {c} on {len(per_value)} values")
    if p.agents_used != len(load):
        out.append("agents_used is not the number of agents holding instances")
    return out
