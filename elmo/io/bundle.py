"""Our model format: a directory with ``config.json`` + ``model.safetensors``.

``config.json`` holds the format version and the whole :class:`ModelConfig`; the weights are a
flat safetensors file (no pickle).  Loading checks every key and shape against the model that
the config builds and names what differs.  ``load_model`` also accepts a directory holding the
original ``options.json`` + ``weights.hdf5``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from elmo.config import ModelConfig, from_dict, to_dict
from elmo.errors import ConfigError, WeightFileError
from elmo.nn.bilm import BiLM
from elmo.tokenization import SentencePieceUnits

__all__ = [
    "FORMAT_VERSION",
    "default_model_path",
    "is_model_dir",
    "load_bundle",
    "load_model",
    "load_tokenizer",
    "models_dir",
    "read_weights",
    "resolve_model_path",
    "save_bundle",
]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ORIGINAL_FILES = ("options.json", "weights.hdf5")
TOKENIZER_FILE = "tokenizer.model"
CARD_FILE = "MODEL_CARD.md"
DEFAULT_MODEL = "default"
# The tiny random model of the parity tests: the last resort of default_model_path().

logger = logging.getLogger(__name__)


def save_bundle(
    model: BiLM,
    directory: str | Path,
    include_lm_head: bool = True,
    tokenizer: SentencePieceUnits | None = None,
    model_card: str | None = None,
    dtype: torch.dtype = torch.float32,
    training: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a bundle; without the LM head when serving needs no softmax.

    ``dtype=torch.float16`` stores the weights in half the space; they load back as float32.
    ``training``: what ``elmo train`` records of how the weights came about (steps, units,
    seconds, and the bundle a warm start continued), kept in ``config.json``
    (:func:`read_training`).

    With a sentencepiece ``tokenizer`` the model reads its pieces (``tokenizer.model``);
    without one it reads words, as original ELMo models do.
    """

    if dtype not in (torch.float32, torch.float16):
        raise ConfigError(f"bundle weights are float32 or float16, not {dtype}")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_bundle(model, directory, include_lm_head, tokenizer, model_card, dtype, training)
    except OSError as exc:
        raise WeightFileError(f"{directory}: cannot write the bundle: {exc}") from None
    return directory


def _write_bundle(
    model: BiLM,
    directory: Path,
    include_lm_head: bool,
    tokenizer: SentencePieceUnits | None,
    model_card: str | None,
    dtype: torch.dtype,
    training: dict[str, Any] | None,
) -> None:
    from safetensors.torch import save_file

    config = model.config
    state = model.state_dict()
    if not include_lm_head:
        config = dataclasses.replace(config, vocab_size=None)
        state = {k: v for k, v in state.items() if not k.startswith("lm_head.")}
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "model": to_dict(config),
        "tokenizer": {"type": "words"}
        if tokenizer is None
        else {"type": "sentencepiece", "file": TOKENIZER_FILE},
    }
    if training is not None:
        document["training"] = training
    if tokenizer is not None:
        tokenizer.save(directory / TOKENIZER_FILE)
    if model_card is not None:
        (directory / CARD_FILE).write_text(model_card, encoding="utf-8")
    # float32 (or float16 to halve the file) whatever the model was cast to: a bundle always
    # loads into a fresh fp32 model
    tensors = {
        k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in state.items()
    }
    _atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    text = json.dumps(document, indent=2) + "\n"
    _atomic_write(directory / CONFIG_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _umask() -> int:
    mask = os.umask(0o022)  # reading it means setting it: put it back at once
    os.umask(mask)
    return mask


# A bundle is read by other users (a container runs as its own user), so every file gets the
# mode of a plain new file; safetensors creates its file private (0600).
_FILE_MODE = 0o666 & ~_umask()


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.chmod(tmp, _FILE_MODE)
    os.replace(tmp, path)


def _read_document(directory: Path) -> dict[str, Any]:
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
    unknown = sorted(set(document) - {"format_version", "model", "tokenizer", "training"})
    if unknown:
        raise WeightFileError(f"{path}: unknown key(s) {unknown}")
    return document


def read_config(directory: Path) -> ModelConfig:
    document = _read_document(directory)
    try:
        return from_dict(ModelConfig, document.get("model"), where="model")
    except ConfigError as exc:
        raise ConfigError(f"{directory / CONFIG_FILE}: {exc}") from None


def read_training(path: str | Path) -> dict[str, Any] | None:
    """How a bundle's weights were trained, as ``elmo train`` recorded it (``steps``,
    ``tokens``, ``elapsed_s``, and ``continued``: the same record of the bundle a warm start
    began from, or None); None for bundles without the record."""
    path = resolve_model_path(path)
    if not (path / CONFIG_FILE).exists():
        return None
    training = _read_document(path).get("training")
    if training is not None and not isinstance(training, dict):
        raise WeightFileError(f"{path / CONFIG_FILE}: 'training' must be an object")
    return training


def load_tokenizer(path: str | Path) -> SentencePieceUnits | None:
    """The bundle's sentencepiece units, or None for a model that reads words."""
    path = resolve_model_path(path)
    if not (path / CONFIG_FILE).exists():
        return None  # original options.json + weights.hdf5: words
    spec = _read_document(path).get("tokenizer", {"type": "words"})
    if spec == {"type": "words"}:
        return None
    if not isinstance(spec, dict) or spec.get("type") != "sentencepiece" or "file" not in spec:
        raise WeightFileError(f"{path / CONFIG_FILE}: unsupported tokenizer entry {spec!r}")
    return SentencePieceUnits.load(path / str(spec["file"]))


def load_bundle(directory: str | Path) -> BiLM:
    """Build the model from ``config.json`` and load ``model.safetensors`` with strict checks."""
    directory = Path(directory)
    model = BiLM(read_config(directory))
    tensors = read_weights(directory / WEIGHTS_FILE, model.state_dict())
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def read_weights(path: Path, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, checked against the state dict they will load into: the
    same keys, shapes and dtypes (float16 read as float32 where float32 is expected: a bundle
    stored in half precision), so that a wrong file fails naming itself, not deep in torch."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise WeightFileError(f"{path}: cannot read weights: {exc}") from None
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
        if value.dtype == torch.float32 and tensors[key].dtype == torch.float16:
            tensors[key] = tensors[key].float()  # a bundle stored in half precision
        if tensors[key].dtype != value.dtype:
            raise WeightFileError(
                f"{path}: {key!r} has dtype {tensors[key].dtype}, expected {value.dtype}"
            )
    return tensors


def models_dir() -> Path:
    """Where named models live: ``$ELMO_MODELS_DIR``, else ``models/`` in the working
    directory (a clone of the repository keeps the default model there; the image sets the
    variable)."""
    return Path(os.environ.get("ELMO_MODELS_DIR") or Path.cwd() / "models")


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A directory path as given, or the name of a model in :func:`models_dir`."""
    path = Path(name_or_path)
    if path.exists() or path.is_absolute() or len(path.parts) > 1:
        return path
    named = models_dir() / path
    if named.is_dir():
        return named
    available = sorted(p.name for p in models_dir().glob("*") if p.is_dir())
    raise WeightFileError(
        f"{name_or_path}: neither a directory nor a model in {models_dir()} "
        f"(available: {', '.join(available) or 'none'})"
    )


def is_model_dir(path: Path) -> bool:
    """Whether ``path`` holds a bundle or the original ``options.json`` + ``weights.hdf5``."""
    return (path / CONFIG_FILE).is_file() or all((path / f).is_file() for f in ORIGINAL_FILES)


def default_model_path() -> Path:
    """The model served or used when none is named: ``default`` in :func:`models_dir`, else
    the first model found there (sorted by name, with a warning)."""
    directory = models_dir()
    named = directory / DEFAULT_MODEL
    if is_model_dir(named):
        return named
    found = sorted(p for p in directory.glob("*") if p.is_dir() and is_model_dir(p))
    if found:
        logger.warning("no model named %r in %s; using %s", DEFAULT_MODEL, directory, found[0])
        return found[0]
    raise WeightFileError(
        f"no model in {directory}: name one (--model, ELMO_MODEL) or set ELMO_MODELS_DIR"
    )


def load_config(path: str | Path) -> ModelConfig:
    """The architecture of what :func:`load_model` would load, without reading any weights."""
    from elmo.io.convert import read_options

    path = _model_dir(path)
    if (path / CONFIG_FILE).exists():
        return read_config(path)
    return read_options(path / ORIGINAL_FILES[0])


def _model_dir(path: str | Path) -> Path:
    """A loadable model directory (bundle or original files), or a clear error."""
    path = resolve_model_path(path)
    if not path.is_dir():
        raise WeightFileError(f"{path}: not a directory (expected a model bundle)")
    if (path / CONFIG_FILE).exists() or all((path / name).exists() for name in ORIGINAL_FILES):
        return path
    raise WeightFileError(
        f"{path}: holds neither {CONFIG_FILE} + {WEIGHTS_FILE} nor {' + '.join(ORIGINAL_FILES)}"
    )


def load_model(path: str | Path) -> BiLM:
    """A bundle directory, a directory with original ``options.json`` + ``weights.hdf5``, or the
    name of a model in :func:`models_dir`."""
    from elmo.io.convert import load_original

    path = _model_dir(path)
    if (path / CONFIG_FILE).exists():
        return load_bundle(path)
    return load_original(path / ORIGINAL_FILES[0], path / ORIGINAL_FILES[1])
