"""Tree SHAP from per-leaf tables gives LightGBM's ``pred_contrib``, on every kind of value
a split can see (NaN, zero as missing, exact thresholds), or is not used at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from riskline.models import Calibrator, Model
from riskline.models._treeshap import TreeShap, build_tables

_WIDTH = 5


def _booster(seed: int, rows: int = 3_000, **params: object) -> lgb.Booster:
    """A boosted model over features with NaNs, zeros and repeated splits on one feature."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, _WIDTH)) * [1.0, 10.0, 100.0, 1.0, 3.0]
    x[rng.random(x.shape) < 0.15] = np.nan
    x[rng.random(x.shape) < 0.15] = 0.0
    signal = np.nan_to_num(x[:, 0]) ** 2 - np.abs(np.nan_to_num(x[:, 1])) / 5 + (x[:, 2] > 0)
    y = (signal + rng.logistic(size=rows) > 1.0).astype(int)
    base = {"objective": "binary", "num_leaves": 31, "verbose": -1, "seed": seed}
    return lgb.train({**base, **params}, lgb.Dataset(x, label=y), 40)


@pytest.fixture(scope="module", params=[{}, {"zero_as_missing": True}], ids=["nan", "zero"])
def booster(request: pytest.FixtureRequest) -> lgb.Booster:
    return _booster(7, **request.param)


@pytest.fixture(scope="module")
def tables(booster: lgb.Booster) -> TreeShap:
    built = build_tables(booster)
    assert built is not None
    return built


def _thresholds(booster: lgb.Booster) -> list[float]:
    found: list[float] = []

    def walk(node: dict[str, object]) -> None:
        if "split_index" in node:
            found.append(float(node["threshold"]))  # type: ignore[arg-type]
            walk(node["left_child"])  # type: ignore[arg-type]
            walk(node["right_child"])  # type: ignore[arg-type]

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return found


def _expected(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    return np.asarray(booster.predict(x, pred_contrib=True))[:, :-1]


def test_the_missing_types_under_test_are_both_present(booster: lgb.Booster) -> None:
    kinds = {t["tree_structure"].get("missing_type") for t in booster.dump_model()["tree_info"]}
    assert kinds & {"NaN", "Zero"}


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_contributions_are_lightgbm_pred_contrib(
    booster: lgb.Booster, tables: TreeShap, data: st.DataObject
) -> None:
    zero = float(np.float32(1e-35))  # LightGBM reads |x| <= 1e-35f as 0.0
    special = [np.nan, 0.0, -0.0, 1e-36, -1e-36, zero, -zero, 2 * zero, np.inf, -np.inf]
    cuts = _thresholds(booster)
    near = [float(np.nextafter(t, d)) for t in cuts for d in (-np.inf, np.inf)]
    values = st.sampled_from(special + cuts + near) | st.floats(-400, 400)
    shape = st.tuples(st.integers(1, 70), st.just(_WIDTH))
    x = data.draw(arrays(np.float64, shape, elements=values))
    assert np.allclose(tables.contributions(x), _expected(booster, x), rtol=1e-9, atol=1e-12)


def test_rows_across_chunks_are_computed_alike(booster: lgb.Booster, tables: TreeShap) -> None:
    x = np.random.default_rng(3).normal(size=(300, _WIDTH)) * 50
    got = tables.contributions(x)
    assert np.allclose(got, _expected(booster, x), rtol=1e-9, atol=1e-12)
    assert np.array_equal(got[130:131], tables.contributions(x[130:131]))


def test_rows_of_another_width_are_refused(tables: TreeShap) -> None:
    with pytest.raises(ValueError, match=f"rows of {_WIDTH} features"):
        tables.contributions(np.zeros((2, _WIDTH - 1)))


def test_a_tree_without_splits_contributes_nothing() -> None:
    x = np.random.default_rng(0).normal(size=(200, 2))
    booster = lgb.train(  # a constant label: every tree is a single leaf
        {"objective": "binary", "verbose": -1}, lgb.Dataset(x, label=np.ones(200)), 3
    )
    tables = build_tables(booster)
    assert tables is not None
    assert np.array_equal(tables.contributions(x[:4]), np.zeros((4, 2)))


def test_categorical_splits_keep_lightgbm_and_the_same_contributions() -> None:
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.integers(0, 6, 2_000), rng.normal(size=2_000)]).astype(float)
    y = ((x[:, 0] == 3) | (x[:, 1] > 1)).astype(int)
    data = lgb.Dataset(x, label=y, categorical_feature=[0])
    booster = lgb.train({"objective": "binary", "verbose": -1}, data, 10)
    assert build_tables(booster) is None
    model = Model(booster, ("a", "b"), "v", Calibrator("platt", (1.0, 0.0)), (None, None))
    assert model.tree_shap() is None
    assert np.allclose(model.contributions(x[:20]), _expected(booster, x[:20]))


def test_a_loaded_model_explains_with_its_tables(booster: lgb.Booster) -> None:
    names = tuple(f"f{i}" for i in range(_WIDTH))
    model = Model(booster, names, "v", Calibrator("platt", (1.0, 0.0)), (None,) * _WIDTH)
    loaded = Model.from_bytes(model.to_bytes())
    assert loaded.tree_shap() is not None
    x = np.random.default_rng(5).normal(size=(50, _WIDTH)) * 30
    assert np.allclose(loaded.contributions(x), _expected(booster, x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("warm", "compiled"), [(True, "1"), (False, "0")])
def test_loading_a_model_compiles_the_kernel_unless_only_scoring(
    booster: lgb.Booster, tmp_path: Path, warm: bool, compiled: str
) -> None:
    """Compiling (or loading numba's cache) takes 0.25-0.75 s: at load for a model about to
    serve, not on its first request explained; never for one only scored (audit replay and
    backtest: ``warm=False``). Checked in a fresh interpreter, where nothing compiled it yet."""
    names = tuple(f"f{i}" for i in range(_WIDTH))
    model = Model(booster, names, "v", Calibrator("platt", (1.0, 0.0)), (None,) * _WIDTH)
    artefact = tmp_path / "model.riskline"
    artefact.write_bytes(model.to_bytes())
    script = (
        "import sys; from pathlib import Path\n"
        "from riskline.models import Model\n"
        "from riskline.models._treeshap import _contributions\n"
        "before = len(_contributions.signatures)\n"
        f"Model.from_bytes(Path(sys.argv[1]).read_bytes(), warm={warm})\n"
        "print(before, len(_contributions.signatures))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(artefact)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["0", compiled]
