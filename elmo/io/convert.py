"""Load original bilm-tf / AllenNLP ELMo files (``options.json`` + ``weights.hdf5``).

TensorFlow → PyTorch conventions handled here (each checked against reference outputs):

- TF multiplies ``x @ W``; ``nn.Linear`` computes ``x @ W.T``, so dense kernels are transposed.
- Conv kernels are ``(1, width, in, out)`` in TF and ``(out, in, width)`` in PyTorch.
- ``char_embed`` has no row for id 0 (a padded token slot): a zero row is prepended.
- LSTM ``W_0`` reads ``[input; h_prev]`` with gates (i, j = new memory, f, o); PyTorch wants
  (i, f, g, o), input and recurrent weights apart.  TF adds ``forget_bias = 1.0`` at run time; it
  is folded into the bias here.  ``W_P_0`` is the projection H → D.
- Highway ``W_carry`` is the gate that passes the transformed value (see :mod:`elmo.nn.highway`).
- ``RNN_0`` is the forward LM, ``RNN_1`` the backward LM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from elmo.config import CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.errors import ConfigError, WeightFileError
from elmo.nn.bilm import BiLM
from elmo.nn.cells import LSTMPCell, rnn_parameter

__all__ = ["config_from_options", "load_original"]

_LSTM_PREFIX = "RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell/"


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def config_from_options(options: dict[str, Any]) -> ModelConfig:
    """Our config for an original ``options.json`` (published inference options)."""
    try:
        cnn, lstm = options["char_cnn"], options["lstm"]
        if int(lstm["projection_dim"]) >= int(lstm["dim"]):
            # bilm-tf then still has a W_P_0 projection, which our LSTM without one would drop
            raise ConfigError("lstm.projection_dim must be smaller than lstm.dim")
        return ModelConfig(
            char_cnn=CharCNNConfig(
                embedding_dim=int(cnn["embedding"]["dim"]),
                filters=tuple((int(w), int(n)) for w, n in cnn["filters"]),
                n_highway=int(cnn["n_highway"]),
                activation=cnn.get("activation", "relu"),
                max_characters_per_token=int(cnn.get("max_characters_per_token", 50)),
            ),
            recurrent=RecurrentConfig(
                cell="lstm",
                num_layers=int(lstm.get("n_layers", 2)),
                hidden_size=int(lstm["dim"]),
                projection_size=int(lstm["projection_dim"]),
                cell_clip=_optional_float(lstm.get("cell_clip")),
                proj_clip=_optional_float(lstm.get("proj_clip")),
                residual=bool(lstm.get("use_skip_connections", False)),
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"options: missing or malformed entry {exc!s}") from None


class _Reader:
    """Reads datasets by name and checks their shapes, naming the file in every error."""

    def __init__(self, handle: Any, path: Path) -> None:
        self.handle, self.path = handle, path

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in self.handle:
            raise WeightFileError(f"{self.path}: dataset {name!r} is missing")
        data = self.handle[name]
        if tuple(data.shape) != shape:
            raise WeightFileError(
                f"{self.path}: dataset {name!r} has shape {tuple(data.shape)}, expected {shape}"
            )
        return np.asarray(data[...], dtype=np.float32)


def _copy(param: torch.Tensor, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _load_token_encoder(model: BiLM, read: _Reader) -> None:
    cfg = model.config.char_cnn
    cnn = model.token_encoder.char_cnn
    embed = read.get("char_embed", (cfg.n_characters - 1, cfg.embedding_dim))
    _copy(cnn.char_embedding.weight, np.concatenate([np.zeros_like(embed[:1]), embed]))
    for i, ((width, count), conv) in enumerate(zip(cfg.filters, cnn.kernels(), strict=True)):
        kernel = read.get(f"CNN/W_cnn_{i}", (1, width, cfg.embedding_dim, count))
        _copy(conv.weight, kernel[0].transpose(2, 1, 0))  # (out, in, width)
        assert conv.bias is not None  # Conv1d(bias=True)
        _copy(conv.bias, read.get(f"CNN/b_cnn_{i}", (count,)))
    size = cfg.n_filters
    for k, layer in enumerate(model.token_encoder.highway.linears()):
        prefix = f"CNN_high_{k}/"
        weight = [read.get(prefix + n, (size, size)).T for n in ("W_transform", "W_carry")]
        bias = [read.get(prefix + n, (size,)) for n in ("b_transform", "b_carry")]
        _copy(layer.weight, np.concatenate(weight))
        _copy(layer.bias, np.concatenate(bias))
    dim = model.config.recurrent.projection_size
    _copy(model.token_encoder.projection.weight, read.get("CNN_proj/W_proj", (size, dim)).T)
    _copy(model.token_encoder.projection.bias, read.get("CNN_proj/b_proj", (dim,)))


def _tf_gates_to_torch(x: np.ndarray, hidden: int) -> np.ndarray:
    """Reorder the 4H gate axis (last) from TF (i, j, f, o) to PyTorch (i, f, g=j, o)."""
    i, j, f, o = (x[..., k * hidden : (k + 1) * hidden] for k in range(4))
    return np.concatenate([i, f, j, o], axis=-1)


def _load_lstms(model: BiLM, read: _Reader) -> None:
    cfg = model.config.recurrent
    hidden, dim = cfg.hidden_size, cfg.projection_size
    stacks = (model.recurrent.forward_stack, model.recurrent.backward_stack)
    for direction, stack in enumerate(stacks):
        for k, layer in enumerate(stack.stack()):
            prefix = _LSTM_PREFIX.format(direction=direction, layer=k)
            kernel = _tf_gates_to_torch(read.get(prefix + "W_0", (2 * dim, 4 * hidden)), hidden)
            bias = _tf_gates_to_torch(read.get(prefix + "B", (4 * hidden,)), hidden)
            bias[hidden : 2 * hidden] += 1.0  # TF forget_bias, added at run time there
            cell = layer.cell
            assert isinstance(cell, LSTMPCell)  # the original architecture's cell
            _copy(rnn_parameter(cell.rnn, "weight_ih_l0"), kernel[:dim].T)
            _copy(rnn_parameter(cell.rnn, "weight_hh_l0"), kernel[dim:].T)
            _copy(rnn_parameter(cell.rnn, "bias_ih_l0"), bias)
            _copy(rnn_parameter(cell.rnn, "bias_hh_l0"), np.zeros_like(bias))
            if cell.rnn.proj_size:
                _copy(
                    rnn_parameter(cell.rnn, "weight_hr_l0"),
                    read.get(prefix + "W_P_0", (hidden, dim)).T,
                )


def read_options(options_path: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` of an original ``options.json``."""
    options_path = Path(options_path)
    try:
        options = json.loads(options_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightFileError(f"{options_path}: cannot read options: {exc}") from None
    try:
        return config_from_options(options)
    except ConfigError as exc:
        raise ConfigError(f"{options_path}: {exc}") from None


def load_original(options_path: str | Path, weights_path: str | Path) -> BiLM:
    """A :class:`BiLM` (no LM head) with the weights of an original ELMo model."""
    import h5py

    weights_path = Path(weights_path)
    model = BiLM(read_options(options_path))
    try:
        handle = h5py.File(weights_path, "r")
    except OSError as exc:
        raise WeightFileError(f"{weights_path}: not a readable HDF5 file: {exc}") from None
    with handle:
        read = _Reader(handle, weights_path)
        try:
            _load_token_encoder(model, read)
            _load_lstms(model, read)
        except (OSError, KeyError, ValueError) as exc:
            raise WeightFileError(f"{weights_path}: cannot read weights: {exc}") from None
    return model.eval()
