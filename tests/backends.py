"""The one policy of the tests that need a server or a binary of this machine's kind."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str) -> NoReturn:
    """Skip the test, ``what`` saying what is missing and why; with ``CI`` set, fail it
    instead: in CI every backend test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI is set: this test must run)")
    pytest.skip(f"{what}; CI=1 makes this fail")
