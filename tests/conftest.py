"""Suite-wide set-up: keep every test away from the user's own rnnpanel cache."""

from __future__ import annotations

import os
import tempfile

import pytest

# Tests that fetch real corpora share one cache per run (scripts/test.sh points RNNPANEL_HOME at a
# persistent folder so the wheels are fetched once); anything else gets a private temporary home.
if "RNNPANEL_HOME" not in os.environ:
    os.environ["RNNPANEL_HOME"] = tempfile.mkdtemp(prefix="rnnpanel-test-home-")


@pytest.fixture(scope="session")
def shared_home() -> str:
    """The run's shared RNNPANEL_HOME (corpus cache, demo models)."""
    return os.environ["RNNPANEL_HOME"]
