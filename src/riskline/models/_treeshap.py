"""Exact path-dependent Tree SHAP from per-leaf tables, read by one compiled call.

LightGBM's ``pred_contrib`` is the classic algorithm (Lundberg et al. 2018), O(leaves x
depth^2) per tree and row: 0.72 ms of CPU per row of a 200-tree, 31-leaf model, the longest
pole of a 1,000-attempt batch (bench/serve.py). The same values, computed another way:

For one tree, the contribution of feature ``i`` to row ``x`` is::

    phi_i(x) = sum over leaves l of  v_l (o_i - z_i) * integral_0^1 prod_{j in P_l, j != i}
                                     (z_j + (o_j - z_j) t) dt

``P_l`` are the distinct features split on along the path to leaf ``l``, ``z_j`` the product
of the cover fractions of the path's splits on ``j``, and ``o_j`` is 1 when ``x`` takes the
path's side at every one of them, else 0. (The Shapley weight ``k!(d-k-1)!/d!`` is
``integral t^k (1-t)^(d-k-1) dt``; Linear TreeSHAP, Yu et al. 2022.) As ``o`` can only take
``2^|P_l|`` values, each leaf's contribution vectors are computed once, when the model is
loaded (the idea of Fast TreeSHAP v2, Yang 2021); a row then costs one comparison per split
node, one table lookup per leaf and a sum per feature, in one compiled call (numba) that
releases the GIL, so the event loop keeps running beside it. Distinct features per path are few
(3.97 on average, at most 10, for the bench model), so the tables are small; a model whose
tables would not be (``_MAX_ENTRIES``) or that LightGBM computes differently (categorical
splits, linear trees, averaged forests) is left to ``pred_contrib`` (``build_tables`` gives None).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
B = npt.NDArray[np.bool_]

_MAX_ENTRIES = 1 << 23  # table floats (64 MiB); larger models keep LightGBM's algorithm
_MAX_DISTINCT = 20  # features per path (2^20 patterns per leaf at most)
_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (1e-35f): |x| <= it is 0.0
_ROWS = 64  # rows whose path masks are held at once
_NONE, _ZERO_MISSING, _NAN_MISSING = 0, 1, 2
_MISSING = {"None": _NONE, "Zero": _ZERO_MISSING, "NaN": _NAN_MISSING}


@dataclass(frozen=True, slots=True)
class TreeShap:
    """The tables of one booster; ``contributions`` gives ``pred_contrib`` without its bias
    column."""

    width: int  # features of the model
    # split nodes, all trees
    node_feature: np.ndarray
    node_threshold: np.ndarray
    node_missing: np.ndarray
    node_default_left: np.ndarray
    # edges (parent -> child), each after its parent's: the parent's edge (-1 at a root),
    # the split node, whether it is the left side, 1 << the split feature's slot on the path
    edge_parent: np.ndarray
    edge_split: np.ndarray
    edge_left: np.ndarray
    edge_bit: np.ndarray
    # leaves (those without splits left out): the edge into them; their slots are
    # slot_feature[first_slot[l]:first_slot[l + 1]]
    leaf_edge: np.ndarray
    leaf_first_slot: np.ndarray
    leaf_table: np.ndarray  # where the leaf's 2^d x d block starts in ``table``
    slot_feature: np.ndarray
    table: np.ndarray

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP contributions (log-odds) of each row of ``x`` (float64, one column per
        feature), one column per feature. The rows are split over the cores, each part one
        compiled call that releases the GIL: a batch's flagged rows are explained while its
        event loop waits for them (27 rows: 3.4 ms on one core of the bench machine)."""
        if x.ndim != 2 or x.shape[1] != self.width:  # the kernel does not check its bounds
            raise ValueError(f"expected rows of {self.width} features, got shape {x.shape}.")
        x = np.ascontiguousarray(x, dtype=np.float64)
        out = np.zeros((x.shape[0], self.width))
        parts = min(_CORES, x.shape[0] // _ROWS_PER_PART)
        if parts < 2:
            self._run(x, out)
            return out
        bounds = np.linspace(0, x.shape[0], parts + 1).astype(int).tolist()
        helpers = [
            _helpers().submit(self._run, x[a:b], out[a:b])
            for a, b in itertools.pairwise(bounds[1:])
        ]
        self._run(x[: bounds[1]], out[: bounds[1]])
        for helper in helpers:
            helper.result()
        return out

    def _run(self, x: np.ndarray, out: np.ndarray) -> None:
        _contributions(
            x, out,
            self.node_feature, self.node_threshold, self.node_missing, self.node_default_left,
            self.edge_parent, self.edge_split, self.edge_left, self.edge_bit,
            self.leaf_edge, self.leaf_first_slot, self.leaf_table,
            self.slot_feature, self.table,
        )  # fmt: skip


_CORES = os.cpu_count() or 1
_ROWS_PER_PART = 8  # fewer rows per core cost more in hand-offs than they save
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _helpers() -> ThreadPoolExecutor:
    """The threads that explain the other parts of a call's rows (made on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, _CORES - 1), thread_name_prefix="riskline-shap")
        return _pool


@njit(cache=True, nogil=True)
def _contributions(  # the tables, unpacked for numba
    x: F64, out: F64,
    node_feature: I64, node_threshold: F64, node_missing: I8, node_default_left: B,
    edge_parent: I64, edge_split: I64, edge_left: B, edge_bit: I64,
    leaf_edge: I64, leaf_first_slot: I64, leaf_table: I64,
    slot_feature: I64, table: F64,
) -> None:  # fmt: skip
    rows = x.shape[0]
    left = np.empty(len(node_feature), np.bool_)
    off = np.empty((min(rows, _ROWS), len(edge_parent)), np.int64)  # the slots a row leaves
    for start in range(0, rows, _ROWS):
        chunk = min(rows - start, _ROWS)
        for r in range(chunk):
            for n in range(len(node_feature)):  # LightGBM's numerical decision at each node
                v = x[start + r, node_feature[n]]
                if abs(v) <= _ZERO:  # LightGBM's rows are sparse: a value this small is 0.0
                    v = 0.0
                kind = node_missing[n]
                if (kind == _NAN_MISSING and np.isnan(v)) or (
                    kind == _ZERO_MISSING and (np.isnan(v) or v == 0.0)
                ):
                    left[n] = node_default_left[n]
                else:
                    if np.isnan(v):  # NaN where it is not the missing value is read as 0.0
                        v = 0.0
                    left[n] = v <= node_threshold[n]
            for e in range(len(edge_parent)):  # parents first: one step per edge
                above = 0 if edge_parent[e] < 0 else off[r, edge_parent[e]]
                off[r, e] = above | (edge_bit[e] if left[edge_split[e]] != edge_left[e] else 0)
        # leaf by leaf, then row by row: a leaf's block stays in cache for all the rows
        for leaf in range(len(leaf_table)):
            first = leaf_first_slot[leaf]
            slots = leaf_first_slot[leaf + 1] - first
            full = (1 << slots) - 1
            for r in range(chunk):
                at = leaf_table[leaf] + (full & ~off[r, leaf_edge[leaf]]) * slots
                for k in range(slots):
                    out[start + r, slot_feature[first + k]] += table[at + k]


def build_tables(booster: lgb.Booster) -> TreeShap | None:
    """The tables of ``booster``, or None when it should keep LightGBM's ``pred_contrib``."""
    model = booster.dump_model()
    if model.get("average_output") or model.get("num_tree_per_iteration", 1) != 1:
        return None
    trees = _Trees()
    for tree in model["tree_info"]:
        if not trees.walk(tree["tree_structure"], -1, {}, []):
            return None
    leaves = trees.leaves
    if any(len(leaf.features) > _MAX_DISTINCT for leaf in leaves):
        return None
    if sum((1 << len(leaf.features)) * len(leaf.features) for leaf in leaves) > _MAX_ENTRIES:
        return None
    tables = _assemble(booster.num_feature(), trees)
    # The kernel compiles, or loads from numba's cache, on its first call: 0.25-0.75 s that
    # would otherwise fall on the first request explained (and blow its latency budget).
    tables.contributions(np.zeros((1, tables.width)))
    return tables


@dataclass(slots=True)
class _Leaf:
    value: float
    edge: int
    features: list[int]  # by slot
    zero_fraction: list[float]  # by slot


class _Trees:
    """Split nodes, edges and leaves, collected tree after tree in depth-first order."""

    def __init__(self) -> None:
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.missing: list[int] = []
        self.default_left: list[bool] = []
        self.edges: list[tuple[int, int, bool, int]] = []  # parent edge, split, left, bit
        self.leaves: list[_Leaf] = []

    def walk(
        self,
        node: Mapping[str, Any],
        edge: int,  # the edge into ``node`` (-1: a root)
        slots: dict[int, int],  # feature -> slot on the path, by first appearance
        zero: list[float],  # by slot: the product of the path's cover fractions
    ) -> bool:
        """Collect ``node`` and what is under it; False on a split this module does not
        compute (categorical, or a linear leaf)."""
        if "split_index" not in node:
            if "leaf_coeff" in node or "leaf_features" in node:
                return False
            if edge >= 0:
                self.leaves.append(_Leaf(float(node["leaf_value"]), edge, list(slots), zero))
            return True
        if node["decision_type"] != "<=":
            return False
        here = len(self.feature)
        feature = int(node["split_feature"])
        self.feature.append(feature)
        self.threshold.append(float(node["threshold"]))
        self.missing.append(_MISSING[node["missing_type"]])
        self.default_left.append(bool(node["default_left"]))
        below = slots if feature in slots else {**slots, feature: len(slots)}
        slot = below[feature]
        count = float(node["internal_count"])
        for child, goes_left in ((node["left_child"], True), (node["right_child"], False)):
            fractions = [*zero, 1.0] if slot == len(zero) else list(zero)
            fractions[slot] *= _count(child) / count
            self.edges.append((edge, here, goes_left, 1 << slot))
            if not self.walk(child, len(self.edges) - 1, below, fractions):
                return False
        return True


def _count(node: Mapping[str, Any]) -> float:
    return float(node["internal_count"] if "split_index" in node else node["leaf_count"])


def _assemble(width: int, trees: _Trees) -> TreeShap:
    leaves = trees.leaves
    first_slot, slot_feature = [0], []
    for leaf in leaves:
        slot_feature.extend(leaf.features)
        first_slot.append(len(slot_feature))
    # tables: leaf after leaf, each 2^d patterns x d slots
    sizes = np.array([len(leaf.features) for leaf in leaves], dtype=np.int64)
    blocks = (1 << sizes) * sizes
    starts = np.cumsum(blocks) - blocks
    table = np.empty(int(blocks.sum()))
    for size in np.unique(sizes):
        group = np.flatnonzero(sizes == size)
        block = _tables(
            int(size),
            np.array([leaves[i].zero_fraction for i in group]),
            np.array([leaves[i].value for i in group]),
        )
        table[starts[group][:, None] + np.arange(block.shape[1])[None, :]] = block
    edges = np.array(trees.edges, dtype=np.int64).reshape(-1, 4)
    return TreeShap(
        width=width,
        node_feature=np.array(trees.feature, dtype=np.int64),
        node_threshold=np.array(trees.threshold, dtype=np.float64),
        node_missing=np.array(trees.missing, dtype=np.int8),
        node_default_left=np.array(trees.default_left, dtype=np.bool_),
        edge_parent=np.ascontiguousarray(edges[:, 0]),
        edge_split=np.ascontiguousarray(edges[:, 1]),
        edge_left=edges[:, 2].astype(np.bool_),
        edge_bit=np.ascontiguousarray(edges[:, 3]),
        leaf_edge=np.array([leaf.edge for leaf in leaves], dtype=np.int64),
        leaf_first_slot=np.array(first_slot, dtype=np.int64),
        leaf_table=starts,
        slot_feature=np.array(slot_feature, dtype=np.int64),
        table=table,
    )


def _tables(d: int, zero: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Contribution vectors of leaves with ``d`` distinct path features, for every pattern:
    ``(leaves, 2^d * d)``, pattern-major. ``zero``: (leaves, d); ``value``: (leaves,)."""
    nodes, weights = np.polynomial.legendre.leggauss(max(1, (d + 1) // 2))
    t, w = (nodes + 1) / 2, weights / 2  # on [0, 1]: exact for degree <= d - 1
    one = (np.arange(1 << d)[:, None] >> np.arange(d)[None, :]) & 1  # (2^d, d)
    z = zero[:, None, :, None]  # (leaves, 1, d, 1)
    factor = z + (one[None, :, :, None] - z) * t  # (leaves, 2^d, d, nodes)
    ones = np.ones_like(factor[:, :, :1])
    before = np.cumprod(np.concatenate([ones, factor[:, :, :-1]], axis=2), axis=2)
    after = np.cumprod(np.concatenate([ones, factor[:, :, :0:-1]], axis=2), axis=2)[:, :, ::-1]
    integral = (before * after) @ w  # (leaves, 2^d, d): the product without slot k
    phi: np.ndarray = value[:, None, None] * (one[None] - zero[:, None, :]) * integral
    return phi.reshape(len(value), -1)
