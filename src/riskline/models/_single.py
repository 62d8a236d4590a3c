"""LightGBM's prepared single-row prediction (C API ``...SingleRowFast``), one per thread.

``Booster.predict`` of one row spends ~25-45 us re-reading its parameters and checking the
input in Python, holding the GIL, around ~4 us of tree walking. The C API's fast path
prepares that once (``LGBM_BoosterPredictForMatSingleRowFastInit``) and then scores a row
with one call (``LGBM_BoosterPredictForMatSingleRowFast``); its raw scores are exactly
``predict(raw_score=True)``'s (tests/models/test_model.py). A prepared config is not
thread-safe, so each thread gets its own.

It reaches LightGBM's loaded library and the booster's handle through names LightGBM keeps
private (``lightgbm.libpath._LIB``, whose file it loads again through ``PyDLL`` so the
call keeps the GIL, and ``Booster._handle``); the version is pinned, and the test
above fails on a release that changes them.
"""

from __future__ import annotations

import ctypes
import threading

import lightgbm as lgb
import numpy as np
from lightgbm.libpath import _LIB

# The same library through ``PyDLL``, whose calls keep the GIL: a row is ~4 us of tree
# walking, and a ``CDLL`` call released the GIL around it to whichever thread was waiting
# (the decision log's writer), so the event loop then waited tens of microseconds to get it
# back (in process, 4,000 requests: 410-740 us of wall time each with it released, 380-410
# us holding it).
_HOLDING = ctypes.PyDLL(_LIB._name)
_RAW_SCORE = 1  # C_API_PREDICT_RAW_SCORE
_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


class _Prepared:
    """One thread's prepared config, freed with it (it keeps its booster alive)."""

    def __init__(self, booster: lgb.Booster, width: int) -> None:
        self.handle = ctypes.c_void_p()  # null until made: nothing to free
        self._booster = booster  # freed after the config, never before
        _check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_RAW_SCORE),
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.c_int(_FLOAT64),
                ctypes.c_int32(width),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self.handle),
            )
        )
        self.out = np.zeros(1, np.float64)
        self.out_ptr = ctypes.c_void_p(self.out.ctypes.data)  # plain addresses: ``data_as``
        self.out_len = ctypes.byref(ctypes.c_int64())  # made a reference cycle per call

    def __del__(self) -> None:
        if self.handle:
            _LIB.LGBM_FastConfigFree(self.handle)


class SingleRow:
    """Raw scores of single rows of a booster, through the prepared C API path."""

    def __init__(self, booster: lgb.Booster) -> None:
        self._booster = booster
        self._width = booster.num_feature()
        self._local = threading.local()

    def margin(self, row: np.ndarray) -> float:
        """The raw score (log-odds) of one float64 row of ``num_feature()`` values."""
        prepared: _Prepared | None = getattr(self._local, "prepared", None)
        if prepared is None:
            prepared = self._local.prepared = _Prepared(self._booster, self._width)
        data = np.ascontiguousarray(row, np.float64)
        if data.shape != (self._width,):
            raise ValueError(f"a row of {self._width} values, got shape {data.shape}.")
        _check(
            _HOLDING.LGBM_BoosterPredictForMatSingleRowFast(
                prepared.handle,
                ctypes.c_void_p(data.ctypes.data),  # ``data`` stays alive through the call
                prepared.out_len,
                prepared.out_ptr,
            )
        )
        return float(prepared.out[0])


def _check(code: int) -> None:
    if code != 0:
        raise lgb.basic.LightGBMError(_LIB.LGBM_GetLastError().decode("utf-8"))
