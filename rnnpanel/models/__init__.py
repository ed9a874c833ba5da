"""Recurrent classifiers: the model, its config, save/load without pickle, training, and adapters.

Training lives in :mod:`rnnpanel.models.training` and bring-your-own-model conversion in
:mod:`rnnpanel.models.adapter`; both are imported on demand so that loading a model stays light.
"""

from rnnpanel.models.classifier import PAD_ID, RecurrentClassifier
from rnnpanel.models.config import ModelConfig
from rnnpanel.models.io import LoadedModel, load_model, save_model

__all__ = ["PAD_ID", "LoadedModel", "ModelConfig", "RecurrentClassifier", "load_model", "save_model"]
