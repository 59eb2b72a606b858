"""Continuous batching in the server: sentences join the model's running batch as they come.

With one sentence a request, concurrent clients split into cohorts when the server runs whole
batches (see :mod:`elmo.streaming`), and a CPU runs small batches at a fraction of its speed.
So on a CPU the model runs an :class:`elmo.streaming.StreamingBiLM`: the scheduler hands it
sentences while it runs (up to the batch limits in flight), each joins at the next block of
time steps, and each comes back as soon as its last step is done.

The engine runs :func:`serve_stream` in a thread of this process (:class:`ThreadStream`) or in
the model's child process (:class:`service.inference.InferenceProcess`).  Both speak the same
messages: in, ``("add", [(key, char ids), ...])`` and ``("stop", None)``; out,
``("done", [(key, vectors), ...], model seconds)`` and ``("failed", keys, reason)``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from elmo.bilm import BiLM
from elmo.embedder import PreparedSentence
from elmo.streaming import StreamingBiLM

__all__ = ["Deliver", "Fail", "StreamingEngine", "ThreadStream", "make_engine", "serve_stream"]

logger = logging.getLogger("service.streaming")

# Finished sentences ``(key, [L, n, 2D])`` and the model seconds spent since the last delivery.
Deliver = Callable[[list[tuple[int, np.ndarray]], float], None]
# Sentences that will not come back (None: every sentence in flight) and why.
Fail = Callable[[list[int] | None, BaseException], None]
Message = tuple[str, Any]


class StreamingEngine(Protocol):
    """Runs sentences with continuous batching; results arrive through ``deliver``."""

    streaming: bool

    def open(self, deliver: Deliver, fail: Fail) -> None: ...

    def add(self, sentences: Sequence[tuple[int, PreparedSentence]]) -> None: ...

    def close(self) -> None: ...


def serve_stream(
    model: BiLM,
    receive: Callable[[bool], list[Message]],
    send: Callable[[Message], None],
    units: torch.Tensor | None = None,
    engine: StreamingBiLM | None = None,
) -> None:
    """Run sentences as they arrive until told to stop.

    ``receive(wait)`` returns the messages that have arrived (waiting for one when ``wait``);
    between two blocks of time steps every waiting sentence joins.  ``units``: char ids
    ``(V, 50)`` of a sentencepiece vocabulary, encoded before the first sentence; ``engine``:
    one made ahead by :func:`make_engine` (a new one replaces it after a failure).
    """
    if engine is None:  # (not ``engine or``: an engine with no sentences is falsy)
        engine = make_engine(model, units)
    busy = 0.0
    while True:
        for kind, payload in receive(not len(engine)):
            if kind == "stop":
                return
            try:
                engine.add([(key, torch.from_numpy(ids)) for key, ids in payload])
            except Exception as exc:  # a bad sentence fails its request, not the engine
                send(("failed", [key for key, _ in payload], f"{type(exc).__name__}: {exc}"))
        if not len(engine):
            continue
        started = time.perf_counter()
        try:
            finished = engine.advance()
        except Exception as exc:  # fail what runs, start afresh
            logger.exception("streaming inference failed")
            send(("failed", engine.keys(), f"{type(exc).__name__}: {exc}"))
            engine = make_engine(model, units)
            continue
        busy += time.perf_counter() - started
        if finished:
            send(("done", finished, busy))
            busy = 0.0


def make_engine(model: BiLM, units: torch.Tensor | None = None) -> StreamingBiLM:
    """A streaming engine for ``model`` that knows ``units`` (char ids ``(V, 50)``) already."""
    engine = StreamingBiLM(model)
    if units is not None:
        engine.remember(units)
    return engine


class ThreadStream:
    """:func:`serve_stream` in a thread of this process (``ELMO_INFERENCE_PROCESS=false``)."""

    streaming = True

    def __init__(self, model: BiLM, units: torch.Tensor | None = None) -> None:
        self.model = model
        self.units = units
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._deliver: Deliver | None = None
        self._fail: Fail | None = None

    def open(self, deliver: Deliver, fail: Fail) -> None:
        self._deliver, self._fail = deliver, fail
        self._thread = threading.Thread(target=self._main, name="elmo-stream", daemon=True)
        self._thread.start()

    def add(self, sentences: Sequence[tuple[int, PreparedSentence]]) -> None:
        self._inbox.put(("add", [(key, s.char_ids.numpy()) for key, s in sentences]))

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
                serve_stream(self.model, self._receive, self._send, self.units)
                return
            except Exception as exc:  # never a silent hang: fail what was in flight, go on
                logger.exception("streaming inference stopped; starting it again")
                assert self._fail is not None
                self._fail(None, exc)
