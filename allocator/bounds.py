"""Lower bounds on the number of bins (agents) that a set of vectors needs: every bound of
allocator/ lives here, from the plain vector bounds to the cluster's (`lower_bound`).

Three arguments, the strongest kept: volume (every dimension's total must fit in the
bins' capacity); cardinality (when only t of the biggest items fit in one bin, p of them
need p/t bins); and items that pairwise cannot share a bin (a clique of the
incompatibility graph, found greedily), each of which needs its own bin, while what cannot
go with any of them needs further bins and what can only fills the room they leave
(Martello and Toth's L2, generalised to vectors).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence

from allocator.constraints.static import allowed_agents
from allocator.model import EPS, RESOURCES, Agent, AgentShape, Demand, canonical

# Clique searches run on at most this many candidate kinds, to bound the time spent.
MAX_CANDIDATES = 3000


def volume_bound(need: Sequence[float], bins: Sequence[Sequence[float]]) -> int:
    """Fewest bins whose capacities add up to `need` in every dimension, biggest bins first.

    When even every bin together falls short, counts further bins as big as the biggest.
    """
    best = 0
    for r, total in enumerate(need):
        if total <= EPS:
            continue
        caps = sorted((b[r] for b in bins), reverse=True)
        acc = 0.0
        k = 0
        for c in caps:
            if acc >= total - EPS:
                break
            acc += c
            k += 1
        if acc < total - EPS:
            top = caps[0] if caps else 0.0
            if top <= EPS:
                return 10**9
            k += math.ceil((total - acc) / top - EPS)
        best = max(best, k)
    return best


class Volume:
    """`volume_bound` against fixed bins, each call in O(dimensions × log bins): the bins'
    capacities are sorted once (a standing placement asks after every change)."""

    def __init__(self, bins: Sequence[Sequence[float]]) -> None:
        dims = len(bins[0]) if bins else 0
        self.prefix: list[list[float]] = []
        self.top: list[float] = []
        for r in range(dims):
            caps = sorted((b[r] for b in bins), reverse=True)
            acc, sums = 0.0, []
            for c in caps:
                acc += c
                sums.append(acc)
            self.prefix.append(sums)
            self.top.append(caps[0] if caps else 0.0)

    def __call__(self, need: Sequence[float]) -> int:
        if not self.prefix:
            return 10**9 if any(n > EPS for n in need) else 0
        best = 0
        for r, total in enumerate(need[: len(self.prefix)]):
            if total <= EPS:
                continue
            sums = self.prefix[r]
            k = bisect_left(sums, total - EPS)
            if k == len(sums):
                if self.top[r] <= EPS:
                    return 10**9
                k += math.ceil((total - (sums[-1] if sums else 0.0)) / self.top[r] - EPS)
            else:
                k += 1
            best = max(best, k)
        return best


def cardinality_bound(
    sizes: Sequence[Sequence[float]], counts: Sequence[int], cap: Sequence[float]
) -> int:
    """Bins needed when no bin can hold more than a few of the big items.

    For the p biggest items (by summed share of the bin, or by one dimension), at most t of
    them fit in a bin, where t is the most of their smallest that fit by that measure; so
    they need ceil(p / t) bins.
    """
    dims = len(cap)
    measures: list[list[tuple[float, int]]] = []
    shares = [sum(s / c for s, c in zip(size, cap, strict=True) if c > 0) for size in sizes]
    measures.append([(shares[k], n) for k, n in enumerate(counts) if n > 0])
    limits = [float(sum(1 for c in cap if c > 0))]
    for r in range(dims):
        if cap[r] > 0:
            measures.append([(sizes[k][r] / cap[r], n) for k, n in enumerate(counts) if n > 0])
            limits.append(1.0)
    best = 0
    for items, limit in zip(measures, limits, strict=True):
        flat: list[float] = []
        for v, n in sorted(items, reverse=True):
            flat.extend([v] * n)
        # t(p): how many of the p biggest can share a bin, at most; the smallest of the p
        # are flat[p-t .. p-1]; t only grows with p, so one pointer suffices
        t = 0
        window = 0.0  # sum of flat[p - t .. p - 1]
        for p in range(1, len(flat) + 1):
            window += flat[p - 1]
            t += 1
            while t > 0 and window > limit + EPS:
                window -= flat[p - t]
                t -= 1
            if t == 0:
                best = max(best, p)  # items bigger than a bin: one bin each (at least)
                continue
            best = max(best, math.ceil(p / t))
    return best


class _Graph:
    """Which kinds pairwise cannot share a bin, as bit sets (bit i: the i-th kind listed)."""

    def __init__(
        self, kinds: Sequence[int], sizes: Sequence[Sequence[float]], cap: Sequence[float]
    ) -> None:
        self.kinds = list(kinds)
        n = len(self.kinds)
        self.all = (1 << n) - 1
        compat = [self.all] * n
        for r in range(len(cap)):
            values = [sizes[k][r] for k in self.kinds]
            order = sorted(range(n), key=values.__getitem__)
            ranked = [values[i] for i in order]
            prefix = [0] * (n + 1)
            for j, i in enumerate(order):
                prefix[j + 1] = prefix[j] | (1 << i)
            for i in range(n):
                # the kinds that fit beside kind i in dimension r: a prefix of the sorted sizes
                compat[i] &= prefix[bisect_right(ranked, cap[r] - values[i] + EPS)]
        self.compat = compat
        self.apart = [self.all & ~c for c in compat]

    def self_apart(self, i: int) -> bool:
        return not (self.compat[i] >> i) & 1

    def by_degree(self) -> list[int]:
        """A clique: again and again, the vertex apart from most of those still possible."""
        chosen: list[int] = []
        possible = self.all
        while possible:
            best, best_degree = -1, -1
            p = possible
            while p:
                low = p & -p
                i = low.bit_length() - 1
                p ^= low
                degree = (self.apart[i] & possible).bit_count()
                if degree > best_degree:
                    best, best_degree = i, degree
            chosen.append(best)
            possible &= self.apart[best] & ~(1 << best)
        return chosen

    def in_order(self, order: Sequence[int]) -> list[int]:
        """A clique: the vertices in order, each taken if it is apart from all taken so far."""
        chosen: list[int] = []
        mask = 0
        for i in order:
            if not mask & self.compat[i] and not (mask >> i) & 1:
                chosen.append(i)
                mask |= 1 << i
        return chosen


def _clique_bound(
    graph: _Graph,
    clique: list[int],
    sizes: Sequence[Sequence[float]],
    counts: Sequence[int],
    cap: Sequence[float],
) -> int:
    """|K| bins for the clique K, plus what the rest needs beyond the room K's bins leave.

    Kinds apart from every member need new bins; any other item that is at least alpha
    big in a dimension can only go into a member's bin with alpha of room left there.
    """
    if not clique:
        return 0
    members: list[int] = []  # kinds, repeated for kinds that cannot pair with themselves
    mask = 0
    for i in clique:
        k = graph.kinds[i]
        members.extend([k] * (counts[k] if graph.self_apart(i) else 1))
        mask |= 1 << i
    in_clique: dict[int, int] = {}
    for k in members:
        in_clique[k] = in_clique.get(k, 0) + 1
    position = {k: i for i, k in enumerate(graph.kinds)}
    dims = len(cap)
    alone = [0.0] * dims
    rest: list[tuple[int, int]] = []
    for k, n in enumerate(counts):
        left = n - in_clique.get(k, 0)
        if left <= 0:
            continue
        i = position.get(k)
        if i is not None and not graph.compat[i] & mask:
            for r in range(dims):
                alone[r] += sizes[k][r] * left
        else:
            rest.append((k, left))
    best = len(members)
    for r in range(dims):
        c = cap[r]
        if c <= EPS:
            continue
        rooms = sorted((c - sizes[m][r] for m in members), reverse=True)
        items = sorted(((sizes[k][r], n) for k, n in rest), reverse=True)
        acc_items = acc_room = extra = 0.0
        j = 0
        for size, n in items:
            acc_items += size * n
            while j < len(rooms) and rooms[j] >= size - EPS:
                acc_room += rooms[j]
                j += 1
            extra = max(extra, acc_items - acc_room)
        best = max(best, len(members) + math.ceil((alone[r] + extra) / c - EPS))
    return best


def vector_lower_bound(
    sizes: Sequence[Sequence[float]],
    counts: Sequence[int],
    bins: Sequence[Sequence[float]],
) -> int:
    """Fewest bins that `counts[k]` items of size `sizes[k]` need, given the bins' capacities.

    Bins may differ: the volume bound uses the biggest first, the other bounds treat every
    bin as big as the biggest in each dimension (so they stay valid).
    """
    kinds = [k for k, n in enumerate(counts) if n > 0]
    if not kinds:
        return 0
    dims = len(sizes[kinds[0]])
    need = [sum(sizes[k][r] * counts[k] for k in kinds) for r in range(dims)]
    best = max(1, volume_bound(need, bins))
    if not bins:
        return best
    cap = [max(b[r] for b in bins) for r in range(dims)]
    best = max(best, cardinality_bound(sizes, counts, cap))
    top = [max(sizes[k][r] for k in kinds) for r in range(dims)]
    # only kinds that are apart from the biggest item in some dimension can be in a clique
    candidates = [k for k in kinds if any(sizes[k][r] + top[r] > cap[r] + EPS for r in range(dims))]
    if not candidates or len(candidates) > MAX_CANDIDATES:
        return best
    graph = _Graph(candidates, sizes, cap)
    share = [sum(s / c for s, c in zip(sizes[k], cap, strict=True) if c > 0) for k in candidates]
    by_share = sorted(range(len(candidates)), key=lambda i: (-share[i], i))
    cliques = [graph.by_degree(), graph.in_order(by_share)]
    for r in range(dims):
        # every kind more than half a bin big in dimension r (a clique), then the others
        half = [i for i in by_share if 2 * sizes[candidates[i]][r] > cap[r] + EPS]
        if half:
            others = [i for i in by_share if 2 * sizes[candidates[i]][r] <= cap[r] + EPS]
            cliques.append(graph.in_order(half + others))
            cliques.append(half)
    seen: set[tuple[int, ...]] = set()
    for clique in cliques:
        key = tuple(sorted(clique))
        if key not in seen:
            seen.add(key)
            best = max(best, _clique_bound(graph, clique, sizes, counts, cap))
    return best


# --- the cluster: agents, demands and their rules ------------------------------------------


def lower_bound(agents: Sequence[Agent], demands: Sequence[Demand]) -> int:
    """Fewest agents any placement needs (the agents given, then more like the biggest).

    The larger of: the per-resource volume bound (biggest agents first), the vector
    bound of instances that pairwise cannot share an agent by size, and instances that can
    never share an agent by rule (a UNIQUE or MAX_PER group, or the same host port).
    """
    return lower_bound_of_canonical(*canonical(agents, demands))


def lower_bound_of_canonical(agents: Sequence[Agent], demands: Sequence[Demand]) -> int:
    """`lower_bound` of agents and demands already in canonical order."""
    active = [d for d in demands if d.count > 0]
    if not active:
        return 0
    # instances with headroom h or more sit on agents that keep h of their total free: they
    # need at least as many agents as their sizes need on agents shrunk so (h = the
    # smallest headroom covers every instance)
    by_size = 0
    for h in sorted({d.headroom for d in active}):
        some = [d for d in active if d.headroom >= h]
        caps = [
            tuple(max(0.0, f - h * t) for f, t in zip(a.size, a.totals, strict=True))
            for a in agents
        ]
        by_size = max(
            by_size, vector_lower_bound([d.size for d in some], [d.count for d in some], caps)
        )
    # instances that rules keep to some agents (IS, LIKE, UNLIKE, CLUSTER with a value)
    # need enough of those
    kept: dict[tuple[int, ...], list[Demand]] = {}
    for d in active:
        if any(c.static for c in d.constraints):
            kept.setdefault(tuple(allowed_agents(agents, d.constraints)), []).append(d)
    for allowed, some in kept.items():
        need = [sum(d.size[r] * d.count for d in some) for r in range(3)]
        if not allowed:
            continue  # nothing can hold them: no bound on agents from them
        by_size = max(by_size, volume_bound(need, [agents[i].size for i in allowed]))
    # instances of a UNIQUE group each need their own agent; a MAX_PER n group, one per n
    apart = 0
    unique: Counter[tuple[str, str]] = Counter()
    capped: Counter[tuple[str, str]] = Counter()
    limit: dict[tuple[str, str], int] = {}
    for d in active:
        seen: set[tuple[tuple[str, str], str]] = set()
        for c in d.constraints:
            key = (d.constraint_group, c.field)
            if c.operator == "UNIQUE" and (key, "U") not in seen:
                seen.add((key, "U"))
                unique[key] += d.count
            elif c.operator == "MAX_PER":
                n = max(1, c.limit)
                limit[key] = min(limit.get(key, n), n)
                if (key, "M") not in seen:
                    seen.add((key, "M"))
                    capped[key] += d.count
    apart = max(unique.values(), default=0)
    for key, n in capped.items():
        apart = max(apart, math.ceil(n / limit[key]))
    per_port: Counter[int] = Counter()
    for d in active:
        for p in set(d.ports):
            per_port[p] += d.count
    apart = max(apart, max(per_port.values(), default=0))
    return max(by_size, apart, 1)


# --- a plan's extra agents ---------------------------------------------------------------


def extra_by_volume(
    agents: Sequence[Agent], demands: Sequence[Demand], shape: AgentShape
) -> tuple[int, str, dict[str, float], dict[str, float]]:
    """The volume lower bound on extra agents, the bottleneck resource, need and capacity.

    Every agent that holds an instance keeps at least the smallest headroom of all
    demands free, so no agent offers more than its free room less that share of its
    total; the extra agents likewise. Per resource r, k_r is the fewest agents of the
    shape that close the gap; the bound is the largest k_r and its resource the
    bottleneck (when nothing is short, the resource most used in shares).
    """
    live = [d for d in demands if d.count > 0]
    h = min((d.headroom for d in live), default=0.0)
    need = {r: sum(getattr(d, r) * d.count for d in live) for r in RESOURCES}
    cap = {
        r: sum(max(0.0, getattr(a, r) - h * a.totals[i]) for a in agents)
        for i, r in enumerate(RESOURCES)
    }
    per_agent = {r: getattr(shape, r) * (1 - h) for r in RESOURCES}
    bound, bottleneck, worst = 0, "", -math.inf
    for r in RESOURCES:
        gap = need[r] - cap[r]
        if gap <= EPS:
            k = 0
        elif per_agent[r] <= EPS:
            k = 10**9
        else:
            k = math.ceil(gap / per_agent[r] - EPS)
        share = need[r] / cap[r] if cap[r] > EPS else (math.inf if need[r] > EPS else 0.0)
        if (k, share) > (bound, worst):
            bound, bottleneck, worst = k, r, share
    return bound, bottleneck or "cpus", need, cap


def _offered(ranges: Sequence[tuple[int, int]], port: int) -> bool:
    return any(lo <= port <= hi for lo, hi in ranges)


def extra_by_rules(
    agents: Sequence[Agent], demands: Sequence[Demand], shape: AgentShape
) -> tuple[int, str, str]:
    """The bound from instances that can never share an agent: extra agents, why, and why
    no number of them helps (empty when some number does).

    Instances that need the same host port need an agent each with that port free;
    a UNIQUE hostname group needs an agent per instance, a MAX_PER hostname n group
    one per n.
    """
    live = [d for d in demands if d.count > 0]
    per_port: Counter[int] = Counter()
    for d in live:
        for port in set(d.ports):
            per_port[port] += d.count
    starts = sorted(lo for a in agents for lo, _ in a.ports)
    ends = sorted(hi for a in agents for _, hi in a.ports)
    best, why = 0, ""
    for port, count in per_port.items():
        free_on = bisect_right(starts, port) - bisect_left(ends, port)
        if count - free_on > best:
            if not _offered(shape.ports, port):
                return (
                    0,
                    "",
                    (
                        f"{count} instances need host port {port}, {free_on} agents have it free "
                        "and the new agents' port ranges do not hold it"
                    ),
                )
            best, why = count - free_on, f"host port {port}"
    groups: Counter[str] = Counter()
    limits: dict[str, int] = {}
    for d in live:
        for c in d.constraints:
            if c.field == "hostname" and c.operator in ("UNIQUE", "MAX_PER"):
                n = max(1, c.limit)
                group = d.constraint_group
                limits[group] = min(limits.get(group, n), n)
                groups[group] += d.count
                break
    for group, count in groups.items():
        k = math.ceil(count / limits[group]) - len(agents)
        if k > best:
            best, why = k, f"hostname {'UNIQUE' if limits[group] == 1 else 'MAX_PER'} of {group}"
    return best, why, ""
