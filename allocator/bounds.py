"""Lower bounds on the number of bins (agents) that a set of vectors needs.

Two kinds of argument, combined: volume (every dimension's total must fit in the bins'
capacity) and items that pairwise cannot share a bin (a clique of the incompatibility
graph, found greedily), each of which needs its own bin; what cannot go with any of them
needs further bins, and what can only fills the room they leave (Martello and Toth's L2,
generalised to vectors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EPS = 1e-9
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


def _apart(a: Sequence[float], b: Sequence[float], cap: Sequence[float]) -> bool:
    """True when two items cannot share a bin of size `cap`."""
    for x, y, c in zip(a, b, cap, strict=True):
        if x + y > c + EPS:
            return True
    return False


def _clique(
    order: Sequence[int],
    sizes: Sequence[Sequence[float]],
    counts: Sequence[int],
    cap: Sequence[float],
    seed: Sequence[int],
) -> list[int]:
    """A clique of kinds (with repeats for kinds too big to pair with themselves), greedily."""
    members: list[int] = []
    for k in list(seed) + [k for k in order if k not in set(seed)]:
        sk = sizes[k]
        if all(_apart(sk, sizes[m], cap) for m in members):
            copies = counts[k] if _apart(sk, sk, cap) else 1
            members.extend([k] * copies)
    return members


def _clique_bound(
    members: list[int],
    sizes: Sequence[Sequence[float]],
    counts: Sequence[int],
    cap: Sequence[float],
) -> int:
    """|K| bins for the clique K, plus what the rest needs beyond the room K's bins leave."""
    if not members:
        return 0
    in_clique: dict[int, int] = {}
    for m in members:
        in_clique[m] = in_clique.get(m, 0) + 1
    distinct = list(in_clique)
    dims = len(cap)
    alone = [0.0] * dims  # the kinds that go with no member: new bins only
    rest: list[tuple[int, int]] = []  # (kind, copies) that may share with some member
    for k, n in enumerate(counts):
        left = n - in_clique.get(k, 0)
        if left <= 0:
            continue
        sk = sizes[k]
        if all(_apart(sk, sizes[m], cap) for m in distinct):
            for r in range(dims):
                alone[r] += sk[r] * left
        else:
            rest.append((k, left))
    best = len(members)
    for r in range(dims):
        c = cap[r]
        if c <= EPS:
            continue
        rooms = sorted((c - sizes[m][r] for m in members), reverse=True)
        items = sorted(((sizes[k][r], n) for k, n in rest), reverse=True)
        # sweep alpha down over the rest's sizes: what is at least alpha big can only go
        # into a member's bin with at least alpha of room
        bound = alone[r]
        acc_items = 0.0
        acc_room = 0.0
        j = 0
        extra = 0.0
        for s, n in items:
            acc_items += s * n
            while j < len(rooms) and rooms[j] >= s - EPS:
                acc_room += rooms[j]
                j += 1
            extra = max(extra, acc_items - acc_room)
        bound += max(0.0, extra)
        best = max(best, len(members) + math.ceil(bound / c - EPS))
    return best


def vector_lower_bound(
    sizes: Sequence[Sequence[float]],
    counts: Sequence[int],
    bins: Sequence[Sequence[float]],
) -> int:
    """Fewest bins that `counts[k]` items of size `sizes[k]` need, given the bins' capacities.

    Bins may differ: the volume bound uses the biggest first, the clique bounds treat every
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
    top = [max(sizes[k][r] for k in kinds) for r in range(dims)]
    # only kinds that are apart from the biggest item in some dimension can be in a clique
    candidates = [k for k in kinds if any(sizes[k][r] + top[r] > cap[r] + EPS for r in range(dims))]
    if not candidates or len(candidates) > MAX_CANDIDATES:
        return best
    share = {k: sum(s / c for s, c in zip(sizes[k], cap, strict=True) if c > 0) for k in candidates}
    by_sum = sorted(candidates, key=lambda k: (-share[k], k))
    seeds: list[list[int]] = [[]]
    for r in range(dims):
        half = [k for k in candidates if 2 * sizes[k][r] > cap[r] + EPS]
        if half:
            seeds.append(sorted(half, key=lambda k: (-sizes[k][r], k)))
    seen: set[tuple[int, ...]] = set()
    for seed in seeds:
        members = _clique(by_sum, sizes, counts, cap, seed)
        key = tuple(sorted(members))
        if key in seen:
            continue
        seen.add(key)
        best = max(best, _clique_bound(members, sizes, counts, cap))
    return best
