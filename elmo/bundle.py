"""Our model format: a directory with ``config.json`` + ``model.safetensors``.

``config.json`` holds the format version and the whole :class:`ModelConfig`; the weights are a
flat safetensors file (no pickle).  Loading checks every key and shape against the model that
the config builds and names what differs.  ``load_model`` also accepts a directory holding the
original ``options.json`` + ``weights.hdf5``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from elmo.bilm import BiLM
from elmo.config import ModelConfig, from_dict, to_dict
from elmo.errors import ConfigError, WeightFileError

__all__ = ["FORMAT_VERSION", "load_bundle", "load_model", "save_bundle"]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ORIGINAL_FILES = ("options.json", "weights.hdf5")


def save_bundle(model: BiLM, directory: str | Path, include_lm_head: bool = True) -> Path:
    """Write ``model`` as a bundle; without the LM head when serving needs no softmax."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = model.config
    state = model.state_dict()
    if not include_lm_head:
        config = dataclasses.replace(config, vocab_size=None)
        state = {k: v for k, v in state.items() if not k.startswith("lm_head.")}
    document: dict[str, Any] = {"format_version": FORMAT_VERSION, "model": to_dict(config)}
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    _atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    text = json.dumps(document, indent=2) + "\n"
    _atomic_write(directory / CONFIG_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return directory


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def read_config(directory: Path) -> ModelConfig:
    path = directory / CONFIG_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightFileError(f"{path}: cannot read bundle config: {exc}") from None
    if not isinstance(document, dict) or document.get("format_version") != FORMAT_VERSION:
        found = document.get("format_version") if isinstance(document, dict) else None
        raise WeightFileError(
            f"{path}: format_version is {found!r}, this library reads {FORMAT_VERSION}"
        )
    try:
        return from_dict(ModelConfig, document.get("model"), where="model")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_bundle(directory: str | Path) -> BiLM:
    """Build the model from ``config.json`` and load ``model.safetensors`` with strict checks."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    model = BiLM(read_config(directory))
    path = directory / WEIGHTS_FILE
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise WeightFileError(f"{path}: cannot read weights: {exc}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise WeightFileError(f"{path}: missing keys {missing}, unexpected keys {unexpected}")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise WeightFileError(
                f"{path}: {key!r} has shape {tuple(tensors[key].shape)}, "
                f"expected {tuple(value.shape)}"
            )
        if tensors[key].dtype != value.dtype:
            raise WeightFileError(
                f"{path}: {key!r} has dtype {tensors[key].dtype}, expected {value.dtype}"
            )
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def load_model(path: str | Path) -> BiLM:
    """A bundle directory, or a directory with original ``options.json`` + ``weights.hdf5``."""
    from elmo.convert import load_original

    path = Path(path)
    if not path.is_dir():
        raise WeightFileError(f"{path}: not a directory (expected a model bundle)")
    if (path / CONFIG_FILE).exists():
        return load_bundle(path)
    if all((path / name).exists() for name in ORIGINAL_FILES):
        return load_original(path / ORIGINAL_FILES[0], path / ORIGINAL_FILES[1])
    raise WeightFileError(
        f"{path}: holds neither {CONFIG_FILE} + {WEIGHTS_FILE} nor {' + '.join(ORIGINAL_FILES)}"
    )
