"""End-to-end fixtures: a riskline home whose registry has a champion."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serving.conftest import MODEL, register


@pytest.fixture
def home(tmp_path: Path) -> Path:
    register(tmp_path, MODEL)
    return tmp_path
