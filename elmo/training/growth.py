"""Growing a trained biLM into a wider one that computes the same function.

A wider model trained from a random init needs many CPU-hours before it catches up with the
narrower model it replaces.  Growing copies every trained weight into the wider shapes and
gives the new units a random init whose *outgoing* weights are zero: each new LSTM cell and
each new projection dimension is computed, but nothing that the old units or the softmax read
depends on it.  So the grown model's LM loss and the old dimensions of its vectors are the
bundle's (to float rounding), while the gradient reaches every new weight from the first
update (a new unit's outgoing weights see its nonzero activation; once they move, its incoming
weights see a gradient too).

Only the recurrent sizes grow (``hidden_size`` and ``projection_size`` of an LSTM with a
projection); the token encoder's char-CNN and highway, the vocabulary and the number of layers
stay.  Parameter layout is PyTorch's ``nn.LSTM`` with ``proj_size``: ``weight_ih`` and
``weight_hh`` have the four gates (i, f, g, o) stacked on their rows, ``weight_hr`` projects
the cells to the recurrent output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch

from elmo.config import ModelConfig
from elmo.errors import ConfigError

__all__ = ["check_growable", "grow_state"]

# What each axis of a parameter indexes: the gate-stacked cells (4H rows), the recurrent output
# (P: the projection, which is also the token encoder's output and the softmax input), or
# something growing leaves alone.
Axis = Literal["gates", "projection", "cells", "same"]

_GATES = 4  # an LSTM's i, f, g, o


def check_growable(small: ModelConfig, large: ModelConfig) -> list[str]:
    """Why ``small`` cannot grow into ``large`` (an empty list when it can)."""
    problems = []
    a, b = small.recurrent, large.recurrent
    if a.cell != "lstm" or b.cell != "lstm":
        problems.append(f"model.recurrent.cell must be 'lstm' ({a.cell!r} there, {b.cell!r} here)")
    if a.projection_size is None or b.projection_size is None:
        problems.append("model.recurrent.projection_size must be set in both models")
    for name in ("hidden_size", "projection_size"):
        mine, theirs = getattr(b, name), getattr(a, name)
        if mine is not None and theirs is not None and mine < theirs:
            problems.append(f"model.recurrent.{name} can only grow ({theirs} there, {mine} here)")
    for name in ("num_layers", "cell_clip", "proj_clip", "residual"):
        if getattr(a, name) != getattr(b, name):
            problems.append(
                f"model.recurrent.{name} must stay ({getattr(a, name)!r} there, "
                f"{getattr(b, name)!r} here)"
            )
    if small.char_cnn != large.char_cnn:
        problems.append("model.char_cnn must stay")
    if small.vocab_size != large.vocab_size:
        problems.append(f"vocab_size must stay ({small.vocab_size} there, {large.vocab_size} here)")
    return problems


def _axes(name: str, ndim: int) -> tuple[Axis, ...]:
    leaf = name.rsplit(".", 1)[-1]
    if name.startswith("recurrent.") and ".cell.rnn." in name:
        if leaf.startswith(("weight_ih", "weight_hh")):
            return ("gates", "projection")  # both layers' inputs are P wide (residual stack)
        if leaf.startswith("weight_hr"):
            return ("projection", "cells")
        if leaf.startswith("bias"):
            return ("gates",)
    if name == "token_encoder.projection.weight":
        return ("projection", "same")
    if name == "token_encoder.projection.bias":
        return ("projection",)
    if name == "lm_head.softmax.weight":
        return ("same", "projection")
    same: Axis = "same"
    return (same,) * ndim


def _old_positions(axis: Axis, old: int, new: int, hidden: tuple[int, int]) -> torch.Tensor:
    """Where the old tensor's indices along ``axis`` land in the new one."""
    if axis == "gates":
        h_old, h_new = hidden
        return torch.cat([g * h_new + torch.arange(h_old) for g in range(_GATES)])
    if axis == "same" and old != new:
        raise ConfigError(f"a parameter that growing keeps has changed size ({old} -> {new})")
    return torch.arange(old)


def grow_state(
    small: Mapping[str, torch.Tensor],
    large: Mapping[str, torch.Tensor],
    small_config: ModelConfig,
    large_config: ModelConfig,
) -> dict[str, torch.Tensor]:
    """The state of ``large`` (a freshly initialised wider model) with ``small``'s trained
    weights in place and the new units' outgoing weights zeroed."""
    problems = check_growable(small_config, large_config)
    if problems:
        raise ConfigError("cannot grow the model: " + "; ".join(problems))
    if set(small) != set(large):
        raise ConfigError("cannot grow the model: the two models' parameters differ by name")
    hidden = (small_config.recurrent.hidden_size, large_config.recurrent.hidden_size)
    grown = {}
    for name, fresh in large.items():
        old = small[name].to(fresh.dtype)
        axes = _axes(name, fresh.ndim)
        positions = [
            _old_positions(axis, old.shape[i], fresh.shape[i], hidden)
            for i, axis in enumerate(axes)
        ]
        new = fresh.detach().clone()
        if new.ndim == 2:
            # the old units' rows read nothing new: zero them before the old block goes in
            new[positions[0]] = 0.0
            new[positions[0][:, None], positions[1][None, :]] = old
        elif new.ndim == 1:
            new[positions[0]] = old
        else:  # convolutions: growing leaves them as they are
            if old.shape != fresh.shape:
                raise ConfigError(f"cannot grow the model: {name} has changed shape")
            new = old.clone()
        grown[name] = new
    return grown
