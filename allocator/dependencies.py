"""The call graph of services: cycles refused, deploy order, impact and load carried along it.

An edge caller → callee says that the caller sends requests to the callee; `fan_out` is
how many requests the callee gets per request the caller gets (1 by default), and
`allow_cycle` marks an edge that may close a cycle (a callback, say). Allowed edges count
for impact (a call is a call) but not for deploy order and not for load: they are the
edges that a cycle is cut at.

Graphs saved before cycles were refused may still hold one; nothing here fails on them:
deploy order puts the members of such a cycle into one generation, and load does not
flow around it (it flows into it and out of it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

ARROW = " → "


@dataclass(frozen=True)
class Edge:
    caller: str
    callee: str
    fan_out: float = 1.0
    allow_cycle: bool = False


class CycleError(ValueError):
    """A new edge would close a cycle; `cycle` is the path, first name repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(
            f"the call {cycle[0]} → {cycle[1]} would close the cycle {ARROW.join(cycle)}; "
            "remove a call of the cycle or mark the edge with allow_cycle: true"
        )


@dataclass(frozen=True)
class Impact:
    """Who a change of `service` reaches: name → distance in calls, nearest first."""

    service: str
    upstream: dict[str, int]  # who calls it, directly (1) or through others
    downstream: dict[str, int]  # whom it calls, directly (1) or through others


def graph(services: Iterable[str], edges: Iterable[Edge]) -> nx.DiGraph:
    """Every service a node, every call an edge caller → callee with its attributes."""
    g = nx.DiGraph()
    g.add_nodes_from(services)
    for e in edges:
        g.add_edge(e.caller, e.callee, fan_out=e.fan_out, allow_cycle=e.allow_cycle)
    return g


def _ordering(g: nx.DiGraph) -> nx.DiGraph:
    """The graph without the edges allowed to close a cycle: the one that orders services."""
    keep = [(u, v) for u, v, allowed in g.edges(data="allow_cycle") if not allowed]
    h = nx.DiGraph()
    h.add_nodes_from(g.nodes)
    h.add_edges_from(keep)
    return h


def check_calls(g: nx.DiGraph, caller: str, calls: Iterable[Edge]) -> None:
    """Raise CycleError if `caller`'s new calls (replacing its old ones) close a cycle.

    Only cycles through one of the new calls are refused: an old cycle elsewhere is not
    this change's fault. The cycle named is the shortest through the first such call.
    """
    h = _ordering(g)
    h.add_node(caller)
    h.remove_edges_from(list(h.out_edges(caller)))
    new = [e for e in calls if not e.allow_cycle]
    h.add_edges_from((caller, e.callee) for e in new)
    for e in sorted(new, key=lambda e: e.callee):
        if e.callee == caller:
            raise CycleError([caller, caller])
        if h.has_node(e.callee) and nx.has_path(h, e.callee, caller):
            path = nx.shortest_path(h, e.callee, caller)
            raise CycleError([caller, *path])


def deploy_order(g: nx.DiGraph, only: Iterable[str] | None = None) -> list[list[str]]:
    """Generations to deploy in: every service after the services it calls (callees first).

    Services of one generation do not call each other and may go out together. `only`
    keeps those services (the order among them still follows calls through others).
    """
    h = _ordering(g)
    condensed = nx.condensation(h)  # a legacy cycle becomes one node
    members = condensed.graph["mapping"]
    groups: dict[int, list[str]] = {}
    for name, scc in members.items():
        groups.setdefault(scc, []).append(name)
    keep = set(g.nodes) if only is None else set(only)
    order: list[list[str]] = []
    # callees first: generations of the reversed graph
    for generation in nx.topological_generations(condensed.reverse(copy=False)):
        names = sorted(n for scc in generation for n in groups[scc] if n in keep)
        if names:
            order.append(names)
    return order


def impact(g: nx.DiGraph, service: str) -> Impact:
    """Everyone upstream (callers, transitively) and downstream (callees) of `service`."""
    down = nx.single_source_shortest_path_length(g, service)
    up = nx.single_source_shortest_path_length(g.reverse(copy=False), service)
    down.pop(service, None)
    up.pop(service, None)

    def ordered(d: Mapping[str, int]) -> dict[str, int]:
        return dict(sorted(d.items(), key=lambda item: (item[1], item[0])))

    return Impact(service, ordered(up), ordered(down))


def load_factors(
    g: nx.DiGraph, explicit: Mapping[str, float], load: Mapping[str, float] | None = None
) -> dict[str, float]:
    """How much each service's load grows when the `explicit` services grow by their factor.

    The model: a service that others call takes its load from its callers, each sending
    `fan_out` requests per request of its own. With load(c) a caller's present load (the
    plan passes its instances in the environment, so a caller allocated nowhere there
    sends nothing and weighs 0; with no `load` at all every caller weighs 1), the
    callee's load after the change, over its load now, is the mean of its callers'
    factors weighted by what each sends it:

        factor(callee) = max(explicit(callee),
                             Σ w(c) × max(1, factor(c)) / Σ w(c)),  w(c) = load(c) × fan_out

    so a callee grows as much as its only caller, and one of many callers that grows moves
    it by that caller's share. (Adding the callers' growths instead counts a request that
    reaches a service along two paths twice, and multiplies down deep graphs.) A caller
    scaled down sends no less: planning never counts on a shrink elsewhere. Factors are
    evaluated callers first; edges allowed to close a cycle carry nothing, and neither do
    edges inside a legacy cycle. A factor is never below the explicit one. Only services
    whose factor is not 1 are returned.
    """
    h = _ordering(g)
    condensed = nx.condensation(h)
    scc_of = condensed.graph["mapping"]
    factor = {n: float(explicit.get(n, 1.0)) for n in g.nodes}
    for n, f in explicit.items():
        factor.setdefault(n, float(f))
    members: dict[int, list[str]] = {}
    for name, scc in scc_of.items():
        members.setdefault(scc, []).append(name)
    for scc in nx.topological_sort(condensed):
        for callee in members[scc]:
            sent = weight = 0.0
            for caller in h.predecessors(callee):
                if scc_of[caller] == scc:
                    continue
                sends = 1.0 if load is None else float(load.get(caller, 0.0))
                w = max(0.0, sends) * g.edges[caller, callee]["fan_out"]
                sent += w * max(1.0, factor[caller])
                weight += w
            if weight > 0:
                factor[callee] = max(factor[callee], sent / weight)
    return {n: f for n, f in sorted(factor.items()) if not math.isclose(f, 1.0)}
