"""ELMo contextual embeddings: char-CNN token encoder + biLSTM language model.

Public API: :class:`Embedder` for feature extraction, :class:`BiLM` and :class:`ScalarMix` for
models, the config dataclasses, bundle save/load, and the exception hierarchy.
"""

from elmo.bilm import BiLM, BiLMOutput
from elmo.bundle import load_bundle, load_model, save_bundle
from elmo.chars import batch_to_char_ids
from elmo.config import CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.convert import load_original
from elmo.embedder import Embedder, Embedding
from elmo.errors import ConfigError, ElmoError, InvalidInputError, WeightFileError
from elmo.module import Elmo, ElmoOutput
from elmo.pooling import Mix
from elmo.scalar_mix import ScalarMix

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
