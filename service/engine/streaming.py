"""Continuous batching in the server: sentences join the model's running batch as they come.

With one sentence a request, concurrent clients split into cohorts when the server runs whole
batches (see :mod:`elmo.inference.streaming`), and a CPU runs small batches at a fraction of
its speed.  So on a CPU the model runs an :class:`elmo.inference.streaming.StreamingBiLM`: the
scheduler hands it sentences while it runs (up to the batch limits in flight), each joins at
the next block of time steps, and each comes back as soon as its last step is done.

:func:`serve_stream` is that loop; it runs in a thread of this process (:class:`ThreadStream`)
or in the model's child process (:class:`service.engine.process.InferenceProcess`), and reads
and writes the messages of :mod:`service.engine.interface` either way.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import torch

from elmo import BiLM, StreamingBiLM
from service.engine.interface import (
    Add,
    Deliver,
    Done,
    Drop,
    Entry,
    Fail,
    Failed,
    FromEngine,
    Result,
    Stop,
    ToEngine,
    Work,
    deliver_message,
    keys_of,
    reason,
    shaped,
)

__all__ = ["DEFAULT_MAX_UNITS", "ThreadStream", "make_engine", "serve_stream"]

DEFAULT_MAX_UNITS = 1 << 16  # layer-0 vectors kept (ELMO_TOKEN_CACHE_UNITS' default)

logger = logging.getLogger("service.engine.streaming")


def serve_stream(
    model: BiLM,
    receive: Callable[[bool], list[ToEngine]],
    send: Callable[[FromEngine], None],
    units: torch.Tensor | None = None,
    engine: StreamingBiLM | None = None,
    shared_rows: int | None = None,
    max_units: int = DEFAULT_MAX_UNITS,
) -> None:
    """Run sentences as they arrive until told to stop.

    ``receive(wait)`` returns the messages that have arrived (waiting for one when ``wait``);
    between two blocks of time steps every waiting sentence joins.  ``units``: char ids
    ``(V, 50)`` of a sentencepiece vocabulary, encoded before the first sentence; ``engine``:
    one made ahead by :func:`make_engine` (a new one like it replaces it after a failure);
    ``shared_rows``, ``max_units``: the engine's, when this makes it.
    """
    if engine is None:  # (not ``engine or``: an engine with no sentences is falsy)
        engine = make_engine(model, units, shared_rows, max_units)
    busy = 0.0
    counted = (engine.unit_hits, engine.unit_misses)  # the cache counts sent so far
    running: dict[Hashable, Entry] = {}  # what the engine runs, by key (for shapes, failures)
    while True:
        if not _take(receive(not len(engine)), engine, running, send):
            return
        if not len(engine):
            continue
        started = time.perf_counter()
        try:
            finished = engine.advance()
        except Exception as exc:  # fail what runs, start afresh
            logger.exception("streaming inference failed")
            send(Failed(keys_of(list(running.values())), reason(exc)))
            engine = make_engine(model, units, engine.shared_rows, engine.max_units)
            counted = (engine.unit_hits, engine.unit_misses)
            running.clear()
            continue
        busy += time.perf_counter() - started
        if finished:
            cache = (engine.unit_hits - counted[0], engine.unit_misses - counted[1])
            counted = (engine.unit_hits, engine.unit_misses)
            send(Done([_answer(key, vectors, running) for key, vectors in finished], busy, cache))
            busy = 0.0


def _take(
    messages: list[ToEngine],
    engine: StreamingBiLM,
    running: dict[Hashable, Entry],
    send: Callable[[FromEngine], None],
) -> bool:
    """Sentences join (a bad one fails its request, not the engine) or leave; False on Stop."""
    for message in messages:
        if isinstance(message, Stop):
            return False
        if isinstance(message, Drop):
            engine.drop(message.keys)
            for key in message.keys:
                running.pop(key, None)
            continue
        entries = message.entries
        try:
            engine.add(
                [(e.key, torch.from_numpy(e.char_ids)) for e in entries],
                [e.group for e in entries],
            )
        except Exception as exc:
            send(Failed(keys_of(entries), reason(exc)))
            continue
        running.update((e.key, e) for e in entries)
    return True


def _answer(
    key: Hashable, vectors: np.ndarray, running: dict[Hashable, Entry]
) -> tuple[int, Result]:
    entry = running.pop(key)
    return entry.key, shaped(entry, vectors)


def make_engine(
    model: BiLM,
    units: torch.Tensor | None = None,
    shared_rows: int | None = None,
    max_units: int = DEFAULT_MAX_UNITS,
) -> StreamingBiLM:
    """A streaming engine for ``model`` that knows ``units`` (char ids ``(V, 50)``) already;
    ``max_units``: the distinct units whose layer-0 vectors it keeps (a sentencepiece
    vocabulary is always kept whole)."""
    if units is not None:
        max_units = max(max_units, len(units) + 2)  # and <S>, </S>
    engine = StreamingBiLM(model, shared_rows=shared_rows, max_units=max_units)
    if units is not None:
        engine.remember(units)
    return engine


class ThreadStream:
    """:func:`serve_stream` in a thread of this process (``ELMO_INFERENCE_PROCESS=false``)."""

    continuous = True

    def __init__(
        self,
        model: BiLM,
        units: torch.Tensor | None = None,
        shared_rows: int | None = None,
        max_units: int = DEFAULT_MAX_UNITS,
    ) -> None:
        self.model = model
        self.units = units
        self.shared_rows = shared_rows
        self.max_units = max_units
        self._inbox: queue.Queue[ToEngine] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._deliver: Deliver | None = None
        self._fail: Fail | None = None

    def open(self, deliver: Deliver, fail: Fail) -> None:
        self._deliver, self._fail = deliver, fail
        self._thread = threading.Thread(target=self._main, name="elmo-stream", daemon=True)
        self._thread.start()

    def add(self, work: Sequence[Work]) -> None:
        self._inbox.put(Add.of(work))

    def drop(self, keys: Sequence[int]) -> None:
        self._inbox.put(Drop(list(keys)))

    def close(self) -> None:
        if self._thread is not None:
            self._inbox.put(Stop())
            self._thread.join()
            self._thread = None

    def _receive(self, wait: bool) -> list[ToEngine]:
        messages = [self._inbox.get()] if wait else []
        while True:
            try:
                messages.append(self._inbox.get_nowait())
            except queue.Empty:
                return messages

    def _send(self, message: FromEngine) -> None:
        assert self._deliver is not None and self._fail is not None
        deliver_message(message, self._deliver, self._fail)

    def _main(self) -> None:
        while True:
            try:
                serve_stream(
                    self.model,
                    self._receive,
                    self._send,
                    self.units,
                    None,
                    self.shared_rows,
                    self.max_units,
                )
                return
            except Exception as exc:  # never a silent hang: fail what was in flight, go on
                logger.exception("streaming inference stopped; starting it again")
                assert self._fail is not None
                self._fail(None, exc)
