"""A request's sentences on their way through the scheduler and the engine."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from elmo import PreparedSentence
from service.engine.interface import Result
from service.engine.shape import Shape

__all__ = ["Job", "QueueFull", "Queued", "SchedulerStopped", "fair_order"]


class QueueFull(Exception):
    """The queue has no room for a request's sentences."""


class SchedulerStopped(Exception):
    """The scheduler is shutting down and takes no new work."""


class Job:
    """One request's sentences on their way through the model; ``future`` gets, in input
    order, each one's unit vectors ``[L, n_units, 2D]``, or what ``shape`` makes of them."""

    def __init__(
        self,
        sentences: Sequence[PreparedSentence],
        loop: asyncio.AbstractEventLoop,
        shape: Shape | None = None,
    ):
        self.sentences = list(sentences)
        self.shape = shape
        self.results: list[Result | None] = [None] * len(self.sentences)
        self.remaining = len(self.sentences)
        self.cancelled = False
        self.tag = 0.0  # the virtual finish time of its last queued sentence
        self.group = 0  # its number: its sentences share its part of the running batch
        self.flight_rows = 0  # streaming: its sentences in the engine, and their units
        self.flight_units = 0
        self.loop = loop
        self.future: asyncio.Future[list[Result]] = loop.create_future()

    def complete(self) -> None:
        """Answer with every sentence's result (from any thread; all results are in)."""
        assert all(r is not None for r in self.results)
        self._settle(cast("list[Result]", self.results), None)

    def fail(self, error: BaseException) -> None:
        """Answer with ``error`` (from any thread)."""
        self._settle(None, error)

    def _settle(self, result: list[Result] | None, error: BaseException | None) -> None:
        """Resolve the future in its loop's thread (futures belong to their loop)."""

        def settle() -> None:
            if self.future.done():
                return
            if result is None:
                self.future.set_exception(error or RuntimeError("no result"))
            else:
                self.future.set_result(result)

        # A closed loop raises RuntimeError: nobody waits for this answer any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(settle)


@dataclass(eq=False)
class Queued:
    """One sentence of a job, waiting or in the engine (``seq`` is its key there)."""

    job: Job
    position: int
    units: int
    seq: int = field(default=0)
    tag: float = 0.0  # virtual finish time: the order in which waiting sentences are served


def fair_order(item: Queued) -> tuple[float, int]:
    return (item.tag, item.seq)
