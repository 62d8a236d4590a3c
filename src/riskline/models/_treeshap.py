"""Exact path-dependent Tree SHAP from per-leaf tables, vectorised over rows.

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
node, one table lookup per leaf and a sum per feature. Distinct features per path are few
(3.97 on average, at most 10, for the bench model), so the tables are small; a model whose
tables would not be (``_MAX_ENTRIES``) or that LightGBM computes differently (categorical
splits, linear trees, averaged forests) is left to ``pred_contrib`` (``build_tables`` gives None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

_MAX_ENTRIES = 1 << 23  # table floats (64 MiB); larger models keep LightGBM's algorithm
_MAX_DISTINCT = 16  # features per path: bit masks fit in uint16
_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (1e-35f): |x| <= it is 0.0
_ROWS = 64  # rows per chunk: keeps the (entries x rows) temporaries in cache
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
    node_zero_left: np.ndarray  # where a value is read as 0.0: does it go left?
    # path steps, leaf by leaf (leaves without splits left out)
    step_node: np.ndarray
    step_left: np.ndarray
    step_bit: np.ndarray  # 1 << the step feature's slot on its leaf's path
    leaf_first_step: np.ndarray
    leaf_full: np.ndarray  # all slots' bits
    # table entries (leaf, slot), ordered by feature
    entry_leaf: np.ndarray
    entry_base: np.ndarray  # index of (leaf, pattern 0, slot) in ``table``
    entry_stride: np.ndarray  # the leaf's slot count: pattern p is at base + p * stride
    feature_first_entry: np.ndarray
    features: np.ndarray  # the features that have entries, in order
    table: np.ndarray

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP contributions (log-odds) of each row of ``x`` (float64, one column per
        feature), one column per feature."""
        out = np.zeros((x.shape[0], self.width))
        for start in range(0, x.shape[0], _ROWS):
            chunk = x[start : start + _ROWS]
            out[start : start + _ROWS, self.features] = self._chunk(chunk)
        return out

    def _chunk(self, x: np.ndarray) -> np.ndarray:
        left = self._goes_left(x[:, self.node_feature])
        off_path = left[:, self.step_node] != self.step_left
        failed = np.bitwise_or.reduceat(
            np.where(off_path, self.step_bit, np.uint16(0)), self.leaf_first_step, axis=1
        )
        pattern = (self.leaf_full ^ failed)[:, self.entry_leaf]
        values = self.table[self.entry_base + pattern * self.entry_stride]
        result: np.ndarray = np.add.reduceat(values, self.feature_first_entry, axis=1)
        return result

    def _goes_left(self, v: np.ndarray) -> np.ndarray:
        """LightGBM's numerical decision at every split node for every row. LightGBM reads
        a value within ``_ZERO`` of 0 as 0.0 (its rows are sparse), so it is zeroed first."""
        with np.errstate(invalid="ignore"):
            v = np.where(np.abs(v) <= _ZERO, 0.0, v)
            left = v <= self.node_threshold
        nan = np.isnan(v)
        missing_type = self.node_missing
        # NaN where NaN is not the missing value is read as 0.0
        left = np.where(nan & (missing_type != _NAN_MISSING), self.node_zero_left, left)
        missing = np.where(
            missing_type == _NAN_MISSING,
            nan,
            (missing_type == _ZERO_MISSING) & (nan | (v == 0.0)),
        )
        return np.where(missing, self.node_default_left, left)


def build_tables(booster: lgb.Booster) -> TreeShap | None:
    """The tables of ``booster``, or None when it should keep LightGBM's ``pred_contrib``."""
    model = booster.dump_model()
    if model.get("average_output") or model.get("num_tree_per_iteration", 1) != 1:
        return None
    nodes = _Nodes()
    leaves: list[_Leaf] = []
    for tree in model["tree_info"]:
        if not _walk(tree["tree_structure"], [], nodes, leaves):
            return None
    if any(len(leaf.features) > _MAX_DISTINCT for leaf in leaves):
        return None
    if sum((1 << len(leaf.features)) * len(leaf.features) for leaf in leaves) > _MAX_ENTRIES:
        return None
    return _assemble(booster.num_feature(), nodes, leaves)


class _Nodes:
    def __init__(self) -> None:
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.missing: list[int] = []
        self.default_left: list[bool] = []


@dataclass(slots=True)
class _Leaf:
    value: float
    steps: list[tuple[int, bool, int]]  # node, goes left, slot
    features: list[int]  # by slot
    zero_fraction: list[float]  # by slot


def _walk(
    node: Mapping[str, Any],
    path: list[tuple[int, bool, int, float]],  # node, goes left, feature, cover fraction
    nodes: _Nodes,
    leaves: list[_Leaf],
) -> bool:
    """Collect the split nodes and leaves under ``node``; False on a split this module does
    not compute (categorical, or a linear leaf)."""
    if "split_index" not in node:
        if "leaf_coeff" in node or "leaf_features" in node:
            return False
        if path:
            leaves.append(_leaf(float(node["leaf_value"]), path))
        return True
    if node["decision_type"] != "<=":
        return False
    here = len(nodes.feature)
    nodes.feature.append(int(node["split_feature"]))
    nodes.threshold.append(float(node["threshold"]))
    nodes.missing.append(_MISSING[node["missing_type"]])
    nodes.default_left.append(bool(node["default_left"]))
    count = float(node["internal_count"])
    feature = int(node["split_feature"])
    for child, goes_left in ((node["left_child"], True), (node["right_child"], False)):
        fraction = _count(child) / count
        if not _walk(child, [*path, (here, goes_left, feature, fraction)], nodes, leaves):
            return False
    return True


def _count(node: Mapping[str, Any]) -> float:
    return float(node["internal_count"] if "split_index" in node else node["leaf_count"])


def _leaf(value: float, path: list[tuple[int, bool, int, float]]) -> _Leaf:
    slots: dict[int, int] = {}
    zero: list[float] = []
    steps = []
    for node, goes_left, feature, fraction in path:
        if feature not in slots:
            slots[feature] = len(zero)
            zero.append(1.0)
        slot = slots[feature]
        zero[slot] *= fraction
        steps.append((node, goes_left, slot))
    return _Leaf(value, steps, list(slots), zero)


def _assemble(width: int, nodes: _Nodes, leaves: list[_Leaf]) -> TreeShap:
    threshold = np.array(nodes.threshold, dtype=np.float64)
    step_node: list[int] = []
    step_left: list[bool] = []
    step_bit: list[int] = []
    first_step: list[int] = []
    for leaf in leaves:
        first_step.append(len(step_node))
        for node, goes_left, slot in leaf.steps:
            step_node.append(node)
            step_left.append(goes_left)
            step_bit.append(1 << slot)
    # tables: leaf after leaf, each 2^d patterns x d slots
    sizes = np.array([len(leaf.features) for leaf in leaves], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum((1 << sizes) * sizes)[:-1]]).astype(np.int64)
    table = np.empty(int(((1 << sizes) * sizes).sum()))
    for size in np.unique(sizes):
        group = np.flatnonzero(sizes == size)
        block = _tables(
            int(size),
            np.array([leaves[i].zero_fraction for i in group]),
            np.array([leaves[i].value for i in group]),
        )
        rows = starts[group][:, None] + np.arange(block.shape[1])[None, :]
        table[rows] = block
    entries = [(f, i, s) for i, leaf in enumerate(leaves) for s, f in enumerate(leaf.features)]
    entries.sort()
    feature = np.array([e[0] for e in entries], dtype=np.int64)
    entry_leaf = np.array([e[1] for e in entries], dtype=np.int64)
    entry_slot = np.array([e[2] for e in entries], dtype=np.int64)
    features, first_entry = np.unique(feature, return_index=True)
    return TreeShap(
        width=width,
        node_feature=np.array(nodes.feature, dtype=np.int64),
        node_threshold=threshold,
        node_missing=np.array(nodes.missing, dtype=np.int8),
        node_default_left=np.array(nodes.default_left, dtype=bool),
        node_zero_left=threshold >= 0.0,
        step_node=np.array(step_node, dtype=np.int64),
        step_left=np.array(step_left, dtype=bool),
        step_bit=np.array(step_bit, dtype=np.uint16),
        leaf_first_step=np.array(first_step, dtype=np.int64),
        leaf_full=((1 << sizes) - 1).astype(np.uint16),
        entry_leaf=entry_leaf,
        entry_base=starts[entry_leaf] + entry_slot,
        entry_stride=sizes[entry_leaf],
        feature_first_entry=first_entry,
        features=features,
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
