"""Shared by the benchmark command tests: a real model trained briefly on the real Rotten Tomatoes corpus."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def quick_rt_model(tmp_path_factory, shared_home) -> Path:
    """One epoch on 400 training texts: real states in seconds (the fixture is for slow tests only)."""
    from rnnpanel.models.training import TrainingRecipe
    from rnnpanel.pipeline.demo import DemoSpec, ensure_demo_model

    spec = DemoSpec("rotten_tomatoes", n=50, recipe=TrainingRecipe(max_epochs=1, val_fraction=0.0), max_train=400)
    return ensure_demo_model(spec, tmp_path_factory.mktemp("models"), progress=False)
