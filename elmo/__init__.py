"""ELMo contextual embeddings: char-CNN token encoder + biLSTM language model.

Public API: :class:`Embedder` for feature extraction, :class:`BiLM` and :class:`ScalarMix` for
models, the config dataclasses, bundle save/load, and the exception hierarchy.

The parts live in subpackages by role: :mod:`elmo.nn` (the network, leaf to whole),
:mod:`elmo.inference` (embeddings from a trained model), :mod:`elmo.io` (model and data formats),
:mod:`elmo.training`, :mod:`elmo.evaluation`, :mod:`elmo.corpus_build` and :mod:`elmo.cli`.
"""

from elmo import moved as _moved
from elmo.config import CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.errors import ConfigError, ElmoError, InvalidInputError, WeightFileError
from elmo.inference.embedder import Embedder, Embedding
from elmo.inference.module import Elmo, ElmoOutput
from elmo.inference.pooling import Mix
from elmo.io.bundle import load_bundle, load_model, save_bundle
from elmo.io.convert import load_original
from elmo.nn.bilm import BiLM, BiLMOutput
from elmo.nn.chars import batch_to_char_ids
from elmo.nn.scalar_mix import ScalarMix

__all__ = [
    "BiLM",
    "BiLMOutput",
    "CharCNNConfig",
    "ConfigError",
    "Elmo",
    "ElmoError",
    "ElmoOutput",
    "Embedder",
    "Embedding",
    "InvalidInputError",
    "Mix",
    "ModelConfig",
    "RecurrentConfig",
    "ScalarMix",
    "WeightFileError",
    "batch_to_char_ids",
    "load_bundle",
    "load_model",
    "load_original",
    "save_bundle",
]

__version__ = "0.1.0"

_moved.install()
