"""Contiguous, even regions on a graph of atoms: the search behind :mod:`gisgrid.planning.balance`.

:class:`RegionSearch` cuts one community's building cells into ``k`` regions. It starts from
``k`` seeds spread over the community (k-means++ on the cells' centres, weighted by workload)
grown together, the lightest region taking its nearest free neighbour each step, so every
region is contiguous from the start. A local search in the manner of AZP (Openshaw's
automated zoning procedure) then moves single boundary cells to a neighbouring region
whenever that lowers

    sum over regions of ((workload - mean) / mean)^2
    + compactness x sum over regions of (1 - Polsby-Popper)
    + penalty x sum over regions of the relative breach of each limit,

and never when the region it leaves would fall apart or be emptied. Area and perimeter (so
Polsby-Popper) are kept exactly as cells move: a region's perimeter is the sum of its cells'
perimeters less twice the edges they share. The best of a few seeded starts is kept, so a
seed gives one answer.

Examples
--------
>>> import numpy as np
>>> # six unit squares in a row, the two at the ends twice as heavy
>>> edges = [(i, i + 1, 1.0) for i in range(5)]
>>> s = RegionSearch(
...     workload=np.array([2.0, 1, 1, 1, 1, 2]), households=np.ones(6), residents=np.ones(6),
...     area=np.ones(6), perimeter=np.full(6, 4.0), xy=np.c_[np.arange(6.0), np.zeros(6)],
...     edges=edges, k=2, seed=0,
... ).solve()
>>> s.labels_.tolist(), s.workload_.tolist()
([0, 0, 0, 1, 1, 1], [4.0, 4.0])
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
PENALTY = 100.0  # a breached limit outweighs any gain in evenness or shape
COMPACTNESS = 0.02  # weight of (1 - Polsby-Popper) against the squared relative deviation


@dataclass(frozen=True)
class Bounds:
    """Households and residents a region should hold (inclusive)."""

    households_min: float = 0.0
    households_max: float = math.inf
    residents_min: float = 0.0
    residents_max: float = math.inf

    def breach(self, households: float, residents: float) -> float:
        """How far a region is outside the bounds, relative to each bound (0 inside).

        Examples
        --------
        >>> Bounds(50, 300, 100, 1000).breach(330, 900)
        0.1
        """
        out = 0.0
        if households < self.households_min:
            out += (self.households_min - households) / max(self.households_min, 1.0)
        if households > self.households_max:
            out += (households - self.households_max) / max(self.households_max, 1.0)
        if residents < self.residents_min:
            out += (self.residents_min - residents) / max(self.residents_min, 1.0)
        if residents > self.residents_max:
            out += (residents - self.residents_max) / max(self.residents_max, 1.0)
        return round(out, 12)


class RegionSearch:
    """``k`` contiguous regions of the atoms, even in workload, within ``bounds``, compact.

    Parameters are per atom (``workload``, ``households``, ``residents``, ``area`` in m²,
    ``perimeter`` in m, ``xy`` its centre) and the graph as ``edges`` (i, j, shared length in
    m; only these pairs are neighbours). ``solve()`` sets ``labels_`` (0..k-1 per atom),
    ``workload_``, ``households_``, ``residents_``, ``polsby_popper_`` (per region) and
    ``objective_``.
    """

    def __init__(
        self,
        *,
        workload: FloatArray,
        households: FloatArray,
        residents: FloatArray,
        area: FloatArray,
        perimeter: FloatArray,
        xy: FloatArray,
        edges: Sequence[tuple[int, int, float]],
        k: int,
        bounds: Bounds = Bounds(),
        seed: int = 0,
        starts: int = 3,
        max_passes: int = 60,
        compactness: float = COMPACTNESS,
    ) -> None:
        n = len(workload)
        if not 1 <= k <= max(n, 1):
            raise ValueError(f"k={k}; expected 1..{n} (one region holds at least one atom)")
        self.workload = np.asarray(workload, dtype=float)
        self.households = np.asarray(households, dtype=float)
        self.residents = np.asarray(residents, dtype=float)
        self.area = np.asarray(area, dtype=float)
        self.perimeter = np.asarray(perimeter, dtype=float)
        self.xy = np.asarray(xy, dtype=float).reshape(n, 2)
        self.k = k
        self.bounds = bounds
        self.seed = seed
        self.starts = starts
        self.max_passes = max_passes
        self.compactness = compactness
        self.nbr: list[dict[int, float]] = [{} for _ in range(n)]
        for i, j, length in edges:
            if i != j:
                self.nbr[i][j] = self.nbr[i].get(j, 0.0) + length
                self.nbr[j][i] = self.nbr[j].get(i, 0.0) + length
        total = float(self.workload.sum())
        self.mean = total / k if total > 0 else 1.0

    # -- the objective, per region -------------------------------------------------------
    def _term(self, w: float, h: float, r: float, a: float, p: float) -> float:
        dev = (w - self.mean) / self.mean
        pp = 4.0 * math.pi * a / (p * p) if p > 0 else 0.0
        return dev * dev + self.compactness * (1.0 - pp) + PENALTY * self.bounds.breach(h, r)

    def solve(self) -> RegionSearch:
        rng = np.random.default_rng(self.seed)
        best: tuple[float, NDArray[np.int64]] | None = None
        for _ in range(max(1, self.starts)):
            labels = self._grow(self._seeds(rng))
            labels, score = self._improve(labels, rng)
            if best is None or score < best[0] - 1e-12:
                best = (score, labels)
        assert best is not None
        self.objective_ = best[0]
        # regions numbered in the order of their first atom, so equal partitions compare equal
        _, first = np.unique(best[1], return_index=True)
        rank = np.empty(self.k, dtype=np.int64)
        rank[np.argsort(first)] = np.arange(self.k)
        self.labels_ = lab = rank[best[1]]
        self.workload_ = np.bincount(lab, self.workload, self.k)
        self.households_ = np.bincount(lab, self.households, self.k)
        self.residents_ = np.bincount(lab, self.residents, self.k)
        area = np.bincount(lab, self.area, self.k)
        per = np.array([self._perimeter_of(np.flatnonzero(lab == r)) for r in range(self.k)])
        self.polsby_popper_ = np.where(per > 0, 4.0 * np.pi * area / np.maximum(per, 1e-9) ** 2, 0)
        return self

    def _perimeter_of(self, members: NDArray[np.int64]) -> float:
        inside = set(members.tolist())
        shared = sum(d for i in inside for j, d in self.nbr[i].items() if j in inside)
        return float(self.perimeter[members].sum() - shared)  # each shared edge seen twice

    # -- start: seeds grown together -----------------------------------------------------
    def _seeds(self, rng: np.random.Generator) -> list[int]:
        """k-means++ on the atoms' centres, each pick weighted by workload x distance²."""
        n = len(self.workload)
        mass = self.workload + 1e-6 * max(float(self.workload.mean()), 1.0)
        first = int(rng.choice(n, p=mass / mass.sum()))
        seeds = [first]
        d2 = ((self.xy - self.xy[first]) ** 2).sum(axis=1)
        while len(seeds) < self.k:
            p = mass * d2
            p[seeds] = 0.0
            if p.sum() <= 0:
                rest = [i for i in range(n) if i not in seeds]
                seeds.append(int(rng.choice(rest)))
            else:
                seeds.append(int(rng.choice(n, p=p / p.sum())))
            d2 = np.minimum(d2, ((self.xy - self.xy[seeds[-1]]) ** 2).sum(axis=1))
        return seeds

    def _grow(self, seeds: list[int]) -> NDArray[np.int64]:
        n = len(self.workload)
        labels = np.full(n, -1, dtype=np.int64)
        load = np.zeros(self.k)
        frontier: list[list[tuple[float, int]]] = [[] for _ in range(self.k)]
        for r, s in enumerate(seeds):
            labels[s] = r
            load[r] = self.workload[s]
        for r, s in enumerate(seeds):
            for j in self.nbr[s]:
                heapq.heappush(frontier[r], (self._dist(s, j), j))
        # the lightest region with a free neighbour grows by its nearest one
        queue = [(load[r], r) for r in range(self.k)]
        heapq.heapify(queue)
        while queue:
            _, r = heapq.heappop(queue)
            while frontier[r] and labels[frontier[r][0][1]] >= 0:
                heapq.heappop(frontier[r])
            if not frontier[r]:
                continue  # boxed in: it grows no more
            _, j = heapq.heappop(frontier[r])
            labels[j] = r
            load[r] += self.workload[j]
            for m in self.nbr[j]:
                if labels[m] < 0:
                    heapq.heappush(frontier[r], (self._dist(seeds[r], m), m))
            heapq.heappush(queue, (load[r], r))
        # atoms no seed can reach (a part of the community with no edge to the rest) go to
        # the region whose seed is nearest: that region is then in two parts
        for i in np.flatnonzero(labels < 0):
            labels[i] = int(np.argmin([self._dist(s, int(i)) for s in seeds]))
        return labels

    def _dist(self, i: int, j: int) -> float:
        return float(np.hypot(*(self.xy[i] - self.xy[j])))

    # -- improve: move boundary atoms ----------------------------------------------------
    def _improve(
        self, labels: NDArray[np.int64], rng: np.random.Generator
    ) -> tuple[NDArray[np.int64], float]:
        labels = labels.copy()
        k = self.k
        w = np.bincount(labels, self.workload, k)
        h = np.bincount(labels, self.households, k)
        r = np.bincount(labels, self.residents, k)
        a = np.bincount(labels, self.area, k)
        p = np.array([self._perimeter_of(np.flatnonzero(labels == q)) for q in range(k)])
        size = np.bincount(labels, minlength=k)
        term = [self._term(w[q], h[q], r[q], a[q], p[q]) for q in range(k)]
        n = len(labels)
        for _ in range(self.max_passes):
            moved = 0
            for i in rng.permutation(n):
                i = int(i)
                src = int(labels[i])
                if size[src] <= 1:
                    continue
                shared: dict[int, float] = {}
                for j, d in self.nbr[i].items():
                    q = int(labels[j])
                    shared[q] = shared.get(q, 0.0) + d
                targets = [q for q in shared if q != src]
                if not targets:
                    continue
                wi, hi, ri = self.workload[i], self.households[i], self.residents[i]
                ai, pi = self.area[i], self.perimeter[i]
                s_own = shared.get(src, 0.0)
                src_new = self._term(
                    w[src] - wi, h[src] - hi, r[src] - ri, a[src] - ai, p[src] - pi + 2 * s_own
                )
                best_gain, best_q, best_dst = 1e-12, -1, 0.0
                for q in sorted(targets):
                    dst_new = self._term(
                        w[q] + wi, h[q] + hi, r[q] + ri, a[q] + ai, p[q] + pi - 2 * shared[q]
                    )
                    gain = term[src] + term[q] - src_new - dst_new
                    if gain > best_gain:
                        best_gain, best_q, best_dst = gain, q, dst_new
                if best_q < 0 or not self._stays_whole(labels, i, src):
                    continue
                labels[i] = best_q
                w[src] -= wi
                h[src] -= hi
                r[src] -= ri
                a[src] -= ai
                p[src] += 2 * s_own - pi
                w[best_q] += wi
                h[best_q] += hi
                r[best_q] += ri
                a[best_q] += ai
                p[best_q] += pi - 2 * shared[best_q]
                size[src] -= 1
                size[best_q] += 1
                term[src], term[best_q] = src_new, best_dst
                moved += 1
            if not moved:
                break
        return labels, float(sum(term))

    def _stays_whole(self, labels: NDArray[np.int64], i: int, region: int) -> bool:
        """Whether ``region`` without atom ``i`` still hangs together: its neighbours of ``i``
        in the region all reach one another without passing through ``i``."""
        ends = [j for j in self.nbr[i] if labels[j] == region]
        if len(ends) <= 1:
            return True
        todo = set(ends[1:])
        seen = {ends[0], i}
        stack = [ends[0]]
        while stack and todo:
            v = stack.pop()
            for m in self.nbr[v]:
                if m not in seen and labels[m] == region:
                    seen.add(m)
                    todo.discard(m)
                    stack.append(m)
        return not todo
