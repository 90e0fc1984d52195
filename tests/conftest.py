"""Shared fixtures: pinned oracle values and small datasets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("HIERMETA_PROGRESS", "0")  # progress bars off in tests

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="session")
def metafor_reference() -> dict:
    """Values pinned from R/metafor by tests/reference/make_metafor_reference.R."""
    return json.loads((REFERENCE / "metafor_reference.json").read_text())
