"""ELMo contextual embeddings: char-CNN token encoder + biLSTM language model.

The public API is what this module exports: :class:`Embedder` for feature extraction,
:class:`Elmo` for task models, :func:`train_task`/:func:`load_task` for a trained head on it
(:mod:`elmo.tasks`), :class:`BiLM` and :class:`ScalarMix` for models, the config
dataclasses, bundle save/load and lookup, the pieces a server batches with
(:class:`PreparedSentence`, :class:`StreamingBiLM`, the pooling functions), and the exception
hierarchy.  The REST service imports nothing else.

The parts live in subpackages by role: :mod:`elmo.nn` (the network, leaf to whole),
:mod:`elmo.inference` (embeddings from a trained model), :mod:`elmo.io` (model and data formats),
:mod:`elmo.training`, :mod:`elmo.tasks`, :mod:`elmo.evaluation`, :mod:`elmo.corpus_build` and
:mod:`elmo.cli`.
"""

from elmo import moved as _moved
from elmo.config import CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.errors import ConfigError, ElmoError, InvalidInputError, WeightFileError
from elmo.inference.embedder import Embedder, Embedding, PreparedSentence, word_vectors
from elmo.inference.module import Elmo, ElmoOutput
from elmo.inference.pooling import FLOAT32_MAX, Mix, mix_layers, pool_sentence, resolve_layers
from elmo.inference.streaming import StreamingBiLM
from elmo.io.bundle import (
    default_model_path,
    is_model_dir,
    load_bundle,
    load_config,
    load_model,
    load_tokenizer,
    resolve_model_path,
    save_bundle,
)
from elmo.io.convert import load_original
from elmo.nn.bilm import BiLM, BiLMOutput
from elmo.nn.chars import batch_to_char_ids
from elmo.nn.scalar_mix import ScalarMix
from elmo.tasks import (
    TaskConfig,
    TaskPredictor,
    load_task,
    load_task_for_model,
    read_dataset,
    read_task_kind,
    require_frozen,
    train_task,
)
from elmo.tokenization import pre_tokenize

__all__ = [
    "FLOAT32_MAX",
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
    "PreparedSentence",
    "RecurrentConfig",
    "ScalarMix",
    "StreamingBiLM",
    "TaskConfig",
    "TaskPredictor",
    "WeightFileError",
    "batch_to_char_ids",
    "default_model_path",
    "is_model_dir",
    "load_bundle",
    "load_config",
    "load_model",
    "load_original",
    "load_task",
    "load_task_for_model",
    "load_tokenizer",
    "mix_layers",
    "pool_sentence",
    "pre_tokenize",
    "read_dataset",
    "read_task_kind",
    "require_frozen",
    "resolve_layers",
    "resolve_model_path",
    "save_bundle",
    "train_task",
    "word_vectors",
]

__version__ = "0.1.0"

_moved.install()
