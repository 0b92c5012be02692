"""The ticket tests run the complaint and follow-up flows only: the starter welcome questions would be in the way."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import STARTER_FLOWS

TICKET_FLOWS = ("complaint.yaml", "ticket_followup.yaml")


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    """The starter flows a complaint's life runs through (the others only slow every test's start)."""
    target = tmp_path / "flows"
    target.mkdir()
    for name in TICKET_FLOWS:
        shutil.copy(STARTER_FLOWS / name, target / name)
    return target
