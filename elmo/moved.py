"""The flat module paths of release 0.1, kept for one release.

``elmo`` was one folder of modules; they now live in subpackages by role (``elmo.nn``,
``elmo.inference``, ``elmo.io``, ``elmo.training``).  Code that imports an old path
(``from elmo.embedder import Embedder``) keeps working and gets a :class:`DeprecationWarning`
naming the new one; the old path is the *same module object* as the new, so patches and
``isinstance`` checks see one class.  Nothing inside the project imports an old path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED: dict[str, str] = {
    f"elmo.{old}": f"elmo.{new}"
    for old, new in {
        "tiles": "nn.tiles",
        "fused_rnn": "nn.fused_rnn",
        "chars": "nn.chars",
        "char_cnn": "nn.char_cnn",
        "highway": "nn.highway",
        "token_encoder": "nn.token_encoder",
        "cells": "nn.cells",
        "recurrent": "nn.recurrent",
        "lm_head": "nn.lm_head",
        "scalar_mix": "nn.scalar_mix",
        "bilm": "nn.bilm",
        "embedder": "inference.embedder",
        "pooling": "inference.pooling",
        "streaming": "inference.streaming",
        "module": "inference.module",
        "extract": "inference.extract",
        "bundle": "io.bundle",
        "convert": "io.convert",
        "registry": "io.registry",
        "train_config": "training.config",
        "corpus": "training.corpus",
        "data": "training.data",
        "train_data": "training.prepare",
        "objective": "training.objective",
        "optim": "training.optim",
        "train_step": "training.step",
        "checkpoint": "training.checkpoint",
        "model_card": "training.model_card",
        "train": "training.loop",
    }.items()
}


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old path with the module at its new path."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamps the old path's spec on the module it got; give the module
        # back its own, so that it still names the file it came from.
        alias = module.__spec__
        if alias is not None and alias.name in self._specs:
            module.__spec__ = self._specs.pop(alias.name)


def install() -> None:
    """Put the old-path finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        sys.meta_path.append(_OldPaths())
