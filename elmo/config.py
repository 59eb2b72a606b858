"""Model configuration: frozen dataclasses, validated on construction, serialised with the model.

A config is passed whole to the modules that build themselves from it, and stored in the bundle's
``config.json`` so that a model can always be rebuilt from its own files.  ``from_dict`` rejects
unknown keys: a typo in a config must fail loudly, not fall back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from elmo.errors import ConfigError

__all__ = [
    "CELL_TYPES",
    "CharCNNConfig",
    "ModelConfig",
    "RecurrentConfig",
    "differences",
    "from_dict",
    "to_dict",
]

CellType = Literal["lstm", "lstm_peephole", "cifg", "gru", "elman"]
CELL_TYPES: tuple[str, ...] = typing.get_args(CellType)
LSTM_FAMILY = ("lstm", "lstm_peephole", "cifg")


def require(ok: bool, message: str) -> None:
    """Raise a :class:`ConfigError` with ``message`` unless ``ok`` (shared config validation)."""
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class CharCNNConfig:
    """Token encoder: char embedding → one conv per width → max → activation → highway → proj.

    ``filters`` lists ``(width, n_filters)`` pairs; their filter counts add up to F.
    """

    embedding_dim: int = 16
    filters: tuple[tuple[int, int], ...] = (
        (1, 32),
        (2, 32),
        (3, 64),
        (4, 128),
        (5, 256),
        (6, 512),
        (7, 1024),
    )
    n_highway: int = 2
    activation: Literal["relu", "tanh"] = "relu"
    max_characters_per_token: int = 50
    n_characters: int = 262

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", tuple(tuple(f) for f in self.filters))
        require(self.embedding_dim > 0, "char_cnn.embedding_dim must be > 0")
        require(len(self.filters) > 0, "char_cnn.filters must not be empty")
        for width, count in self.filters:
            require(
                0 < width <= self.max_characters_per_token and count > 0,
                f"char_cnn.filters: ({width}, {count}) needs 0 < width <= "
                f"{self.max_characters_per_token} and count > 0",
            )
        require(self.n_highway >= 0, "char_cnn.n_highway must be >= 0")
        require(self.activation in ("relu", "tanh"), "char_cnn.activation must be relu or tanh")
        require(self.max_characters_per_token == 50, "char_cnn.max_characters_per_token must be 50")
        require(self.n_characters == 262, "char_cnn.n_characters must be 262 (ids 0-261)")

    @property
    def n_filters(self) -> int:
        """F: the width of the concatenated conv features."""
        return sum(count for _, count in self.filters)


@dataclass(frozen=True)
class RecurrentConfig:
    """The two directional stacks of recurrent layers.

    For the LSTM family (``lstm``, ``lstm_peephole``, ``cifg``) the H-dim output is projected to D
    inside the recurrence (LSTMP: the projected vector is the recurrent state); ``D == H`` means no
    projection.  For ``gru`` and ``elman`` the state has H units and, when ``D != H``, a linear map
    projects each output to D outside the recurrence.  Clipping exists only for the LSTM family.
    """

    cell: CellType = "lstm"
    num_layers: int = 2
    hidden_size: int = 4096
    projection_size: int = 512
    cell_clip: float | None = 3.0
    proj_clip: float | None = 3.0
    residual: bool = True

    def __post_init__(self) -> None:
        require(self.cell in CELL_TYPES, f"recurrent.cell must be one of {CELL_TYPES}")
        require(self.num_layers >= 1, "recurrent.num_layers must be >= 1")
        require(self.hidden_size > 0, "recurrent.hidden_size must be > 0")
        require(self.projection_size > 0, "recurrent.projection_size must be > 0")
        for name in ("cell_clip", "proj_clip"):
            value = getattr(self, name)
            require(value is None or value > 0, f"recurrent.{name} must be null or > 0")
            require(
                value is None or self.cell in LSTM_FAMILY,
                f"recurrent.{name} applies only to the cells {LSTM_FAMILY}, not {self.cell}",
            )
        if self.cell in LSTM_FAMILY:
            require(
                self.projection_size <= self.hidden_size,
                "recurrent.projection_size must be <= hidden_size for LSTM cells",
            )
            require(
                self.proj_clip is None or self.projection_size < self.hidden_size,
                "recurrent.proj_clip needs a projection (projection_size < hidden_size)",
            )


@dataclass(frozen=True)
class ModelConfig:
    """The whole biLM.  ``vocab_size`` is the size of the LM softmax; ``None`` means no LM head.

    ``dropout`` applies in training mode only, to the token vectors and every layer's output.
    """

    char_cnn: CharCNNConfig = field(default_factory=CharCNNConfig)
    recurrent: RecurrentConfig = field(default_factory=RecurrentConfig)
    vocab_size: int | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        require(self.vocab_size is None or self.vocab_size > 1, "vocab_size must be null or > 1")
        require(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")

    @property
    def output_dim(self) -> int:
        """2D: the width of every layer of contextual vectors (forward and backward halves)."""
        return 2 * self.recurrent.projection_size

    @property
    def num_output_layers(self) -> int:
        """L: the token layer plus one per recurrent layer."""
        return 1 + self.recurrent.num_layers


T = TypeVar("T", bound="DataclassInstance")


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    return typing.cast(dict[str, Any], _jsonable(dataclasses.asdict(config)))


def differences(
    old: dict[str, Any], new: dict[str, Any], prefix: str = ""
) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs between two
    serialised configs, nested dicts walked: what a resumed run or output tells its user when
    it refuses to continue with other settings."""
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(a, dict) and isinstance(b, dict):
            found += differences(a, b, name)
        elif a != b:
            found.append((name, a, b))
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from a JSON dict, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(known)}")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against a type hint, building nested dataclasses and tuples."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        # TOML has no null: the string "none" stands for it in config files
        none_string = isinstance(value, str) and value.lower() == "none"
        if (value is None or none_string) and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _coerce(options[0], value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(
            _coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, bool, str) and (
        not isinstance(value, hint) or (hint is not bool and isinstance(value, bool))
    ):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
