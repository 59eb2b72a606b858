"""Continuous batching in the server: sentences join the model's running batch as they come.

With one sentence a request, concurrent clients split into cohorts when the server runs whole
batches (see :mod:`elmo.inference.streaming`), and a CPU runs small batches at a fraction of its
speed. So on a CPU the model runs an :class:`elmo.inference.streaming.StreamingBiLM`: the scheduler
hands it sentences while it runs (up to the batch limits in flight), each joins at the next block of
time steps, and each comes back as soon as its last step is done.

The engine runs :func:`serve_stream` in a thread of this process (:class:`ThreadStream`) or in
the model's child process (:class:`service.engine.process.InferenceProcess`).  Both speak the same
messages: in, ``("add", [(key, group, char ids, word units, shape), ...])``,
``("drop", keys)`` (their requests are gone) and ``("stop", None)``;
out, ``("done", [(key, result), ...], model seconds)`` and ``("failed", keys, reason)``.  A
result is the sentence's unit vectors, or what its :class:`service.engine.shape.Shape` makes of
them (applied here, so that only that crosses to the server).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

from elmo.inference.embedder import PreparedSentence
from elmo.inference.streaming import StreamingBiLM
from elmo.nn.bilm import BiLM
from service.engine.shape import Refusal, Shape

__all__ = [
    "Deliver",
    "Fail",
    "StreamingEngine",
    "ThreadStream",
    "Work",
    "add_message",
    "make_engine",
    "serve_stream",
]

logger = logging.getLogger("service.engine.streaming")

# Finished sentences ``(key, [L, n, 2D] or its shape's result)`` and the model seconds spent
# since the last delivery.
Deliver = Callable[[list[tuple[int, np.ndarray | Refusal]], float], None]
# Sentences that will not come back (None: every sentence in flight) and why.
Fail = Callable[[list[int] | None, BaseException], None]
Message = tuple[str, Any]


class Work(NamedTuple):
    """A sentence for the engine: ``key`` names its result; sentences of one ``group`` (a
    request) share its part of the running batch (:class:`elmo.inference.streaming.StreamingBiLM`'s
    ``shared_rows``); ``shape``, if any, is applied to its vectors before they are sent."""

    key: int
    group: int
    sentence: PreparedSentence
    shape: Shape | None = None


class StreamingEngine(Protocol):
    """Runs sentences with continuous batching; results arrive through ``deliver``."""

    streaming: bool

    def open(self, deliver: Deliver, fail: Fail) -> None: ...

    def add(self, work: Sequence[Work]) -> None: ...

    def drop(self, keys: Sequence[int]) -> None: ...

    def close(self) -> None: ...


def add_message(work: Sequence[Work]) -> Message:
    """The ``add`` message for ``work``."""
    return (
        "add",
        [
            (w.key, w.group, w.sentence.char_ids.numpy(), w.sentence.word_units, w.shape)
            for w in work
        ],
    )


def serve_stream(
    model: BiLM,
    receive: Callable[[bool], list[Message]],
    send: Callable[[Message], None],
    units: torch.Tensor | None = None,
    engine: StreamingBiLM | None = None,
    shared_rows: int | None = None,
) -> None:
    """Run sentences as they arrive until told to stop.

    ``receive(wait)`` returns the messages that have arrived (waiting for one when ``wait``);
    between two blocks of time steps every waiting sentence joins.  ``units``: char ids
    ``(V, 50)`` of a sentencepiece vocabulary, encoded before the first sentence; ``engine``:
    one made ahead by :func:`make_engine` (a new one like it replaces it after a failure);
    ``shared_rows``: the engine's, when this makes it.
    """
    if engine is None:  # (not ``engine or``: an engine with no sentences is falsy)
        engine = make_engine(model, units, shared_rows)
    busy = 0.0
    shapes: dict[Any, tuple[tuple[int, ...] | None, Shape]] = {}  # key → its word units, shape
    while True:
        for kind, payload in receive(not len(engine)):
            if kind == "stop":
                return
            if kind == "drop":
                engine.drop(payload)
                for key in payload:
                    shapes.pop(key, None)
                continue
            try:
                engine.add(
                    [(key, torch.from_numpy(ids)) for key, _, ids, _, _ in payload],
                    [group for _, group, _, _, _ in payload],
                )
            except Exception as exc:  # a bad sentence fails its request, not the engine
                send(("failed", [entry[0] for entry in payload], f"{type(exc).__name__}: {exc}"))
                continue
            shapes.update((key, (words, shape)) for key, _, _, words, shape in payload if shape)
        if not len(engine):
            continue
        started = time.perf_counter()
        try:
            finished = engine.advance()
        except Exception as exc:  # fail what runs, start afresh
            logger.exception("streaming inference failed")
            send(("failed", engine.keys(), f"{type(exc).__name__}: {exc}"))
            engine = make_engine(model, units, engine.shared_rows)
            shapes.clear()
            continue
        busy += time.perf_counter() - started
        if finished:
            send(("done", [(key, _shaped(key, array, shapes)) for key, array in finished], busy))
            busy = 0.0


def _shaped(key: Any, array: np.ndarray, shapes: dict[Any, Any]) -> np.ndarray | Refusal:
    if key not in shapes:
        return array
    words, shape = shapes.pop(key)
    return shape(array, words)  # type: ignore[no-any-return]


def make_engine(
    model: BiLM, units: torch.Tensor | None = None, shared_rows: int | None = None
) -> StreamingBiLM:
    """A streaming engine for ``model`` that knows ``units`` (char ids ``(V, 50)``) already."""
    engine = StreamingBiLM(model, shared_rows=shared_rows)
    if units is not None:
        engine.remember(units)
    return engine


class ThreadStream:
    """:func:`serve_stream` in a thread of this process (``ELMO_INFERENCE_PROCESS=false``)."""

    streaming = True

    def __init__(
        self, model: BiLM, units: torch.Tensor | None = None, shared_rows: int | None = None
    ) -> None:
        self.model = model
        self.units = units
        self.shared_rows = shared_rows
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._deliver: Deliver | None = None
        self._fail: Fail | None = None

    def open(self, deliver: Deliver, fail: Fail) -> None:
        self._deliver, self._fail = deliver, fail
        self._thread = threading.Thread(target=self._main, name="elmo-stream", daemon=True)
        self._thread.start()

    def add(self, work: Sequence[Work]) -> None:
        self._inbox.put(add_message(work))

    def drop(self, keys: Sequence[int]) -> None:
        self._inbox.put(("drop", list(keys)))

    def close(self) -> None:
        if self._thread is not None:
            self._inbox.put(("stop", None))
            self._thread.join()
            self._thread = None

    def _receive(self, wait: bool) -> list[Message]:
        messages = [self._inbox.get()] if wait else []
        while True:
            try:
                messages.append(self._inbox.get_nowait())
            except queue.Empty:
                return messages

    def _send(self, message: Message) -> None:
        assert self._deliver is not None and self._fail is not None
        if message[0] == "done":
            self._deliver(message[1], message[2])
        else:
            self._fail(message[1], RuntimeError(f"inference failed: {message[2]}"))

    def _main(self) -> None:
        while True:
            try:
                serve_stream(
                    self.model, self._receive, self._send, self.units, None, self.shared_rows
                )
                return
            except Exception as exc:  # never a silent hang: fail what was in flight, go on
                logger.exception("streaming inference stopped; starting it again")
                assert self._fail is not None
                self._fail(None, exc)
