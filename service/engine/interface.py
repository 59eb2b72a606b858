"""What the scheduler and an engine say to each other, and the messages of the model's pipe.

The scheduler talks to one :class:`Engine`: it ``open``\\ s it with two callbacks, ``add``\\ s
sentences (:class:`Work`), ``drop``\\ s those whose requests are gone, and ``close``\\ s it.
Results come back through ``deliver``, losses through ``fail``, from whichever thread the
engine runs them in.  An engine is *continuous* when sentences join a running batch (``add``
returns at once, each sentence comes back as soon as it is done) and *batched* when ``add`` runs
its sentences as one forward pass and has delivered them when it returns; the scheduler then
hands it sentences of similar length.  Implementations: :class:`service.engine.batches.Batches`
and :class:`service.engine.streaming.ThreadStream` in this process,
:class:`service.engine.process.InferenceProcess` in the model's child process (either kind).

The same messages cross the child's pipe, and the thread queue of an in-process stream: to
the model :class:`Add`, :class:`Drop` and :class:`Stop`; back :class:`Done` and
:class:`Failed`.  Only what the answer needs crosses: each sentence carries its request's
:class:`~service.engine.shape.Shape`, applied where the vectors are made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from elmo import PreparedSentence
from service.engine.shape import Refusal, Shape

__all__ = [
    "Add",
    "Deliver",
    "Done",
    "Drop",
    "Engine",
    "EngineUnavailable",
    "Entry",
    "Fail",
    "Failed",
    "FromEngine",
    "LoadFailed",
    "Ready",
    "Result",
    "Stop",
    "ToEngine",
    "Work",
    "deliver_message",
    "keys_of",
    "reason",
    "shaped",
]

Result = np.ndarray | Refusal
"""A sentence's unit vectors ``[L, n_units, 2D]``, or what its shape makes of them."""

Deliver = Callable[[list[tuple[int, Result]], float, tuple[int, int]], None]
"""Finished sentences ``(key, result)``, the model seconds spent since the last delivery, and
the layer-0 cache's ``(hits, misses)`` in that time (units)."""

Fail = Callable[[list[int] | None, BaseException], None]
"""Sentences that will not come back (None: every sentence in the engine) and why."""


class EngineUnavailable(Exception):
    """The engine cannot take work now (its process is being replaced, or died with the work):
    the request may be retried after ``retry_after_s`` seconds.  ``code`` says which."""

    def __init__(self, message: str, *, code: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s


class Work(NamedTuple):
    """A sentence for the engine: ``key`` names its result; sentences of one ``group`` (a
    request) share its part of the running batch (``StreamingBiLM``'s ``shared_rows``);
    ``shape``, if any, is applied to its vectors before they are delivered."""

    key: int
    group: int
    sentence: PreparedSentence
    shape: Shape | None = None


class Engine(Protocol):
    """Runs sentences; see the module docstring."""

    @property
    def continuous(self) -> bool: ...

    def open(self, deliver: Deliver, fail: Fail) -> None: ...

    def add(self, work: Sequence[Work]) -> None: ...

    def drop(self, keys: Sequence[int]) -> None: ...

    def close(self) -> None: ...


class Entry(NamedTuple):
    """A sentence as it crosses to the model: plain arrays and tuples, cheap to pickle."""

    key: int
    group: int
    char_ids: np.ndarray  # (n_units, 50)
    word_units: tuple[int, ...] | None
    shape: Shape | None


@dataclass(frozen=True)
class Add:
    """Sentences for the model."""

    entries: list[Entry]

    @classmethod
    def of(cls, work: Sequence[Work]) -> Add:
        return cls(
            [
                Entry(w.key, w.group, w.sentence.char_ids.numpy(), w.sentence.word_units, w.shape)
                for w in work
            ]
        )


@dataclass(frozen=True)
class Drop:
    """Stop running these sentences (their requests are gone)."""

    keys: list[int]


@dataclass(frozen=True)
class Stop:
    """No more work: finish and exit."""


@dataclass(frozen=True)
class Done:
    """Finished sentences, the model seconds they took since the last :class:`Done`, and how
    the layer-0 cache fared meanwhile."""

    results: list[tuple[int, Result]]
    seconds: float
    cache: tuple[int, int] = (0, 0)  # layer-0 cache (hits, misses) in units, the same span


@dataclass(frozen=True)
class Failed:
    """Sentences that will not come back (None: all that were in the model) and why."""

    keys: list[int] | None
    reason: str


@dataclass(frozen=True)
class Ready:
    """The child has loaded and warmed its model."""


@dataclass(frozen=True)
class LoadFailed:
    """The child could not load its model."""

    reason: str


ToEngine = Add | Drop | Stop
FromEngine = Done | Failed


def shaped(entry: Entry, vectors: np.ndarray) -> Result:
    """A finished sentence's answer: its vectors as its shape keeps them."""
    return vectors if entry.shape is None else entry.shape(vectors, entry.word_units)


def keys_of(entries: Sequence[Entry]) -> list[int]:
    return [entry.key for entry in entries]


def reason(exc: BaseException) -> str:
    """What a failure is called in a :class:`Failed` (exceptions do not cross the pipe)."""
    return f"{type(exc).__name__}: {exc}"


def deliver_message(message: FromEngine, deliver: Deliver, fail: Fail) -> None:
    """Hand a message from the model to the scheduler's callbacks."""
    if isinstance(message, Done):
        deliver(message.results, message.seconds, message.cache)
    else:
        fail(message.keys, RuntimeError(f"inference failed: {message.reason}"))
