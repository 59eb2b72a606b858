"""Dynamic batching: sentences of concurrent requests share forward passes.

An LSTM runs as many steps as the longest row of its batch, and a forward pass costs about as much
for one sentence as for dozens on a CPU's matrix units, so the server should neither run requests
one by one nor mix a 3-word sentence with a 300-word one.  Every request's sentences go into one
bounded queue; a single worker thread (inference never blocks the event loop, and one model runs one
batch at a time) repeatedly takes the first waiting sentence plus the waiting sentences closest to
it in length, as many as fit a token budget, hands them to the engine
(:mod:`service.engine.interface`) as one batch, and gives each request its own rows.  A request
larger than one batch simply spans several.  The queue is bounded in sentences: when a request does
not fit, :meth:`Scheduler.reserve` refuses it at once, before any work on it (the route answers
429), instead of growing an unbounded backlog; the room it reserves counts as waiting until the
request is submitted.  A sentence's vectors do not depend on its batch (the library starts every
sentence from the zero state), so batching never changes an answer.

With a streaming engine (continuous batching, the default on a CPU; :mod:`service.engine.streaming`)
the worker does not wait for a batch to finish: it hands the first waiting sentences to the
running batch, and each sentence comes back on its own as soon as it is done.  One request may
have up to ``max_batch_sentences`` sentences and ``max_batch_tokens`` units in the running
batch, all requests together twice that: a request that arrives while another fills the batch
joins at once, and the engine shares each block's rows between them (``shared_rows``).

"Oldest" and "first" are in fair order, not arrival order: a request of 256 long sentences
must not make a one-word request behind it wait for all of them.  Waiting sentences are served
by their virtual finish time, as in fair queueing: a sentence's tag is its request's previous
tag (or the tag of the last sentence served, whichever is later) plus its units.  Requests
that wait together are served in turn, each at the same rate in units; a request alone gets
the whole model.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from elmo import PreparedSentence
from service.core.metrics import Metrics
from service.engine.interface import Engine, EngineUnavailable, Result, Work
from service.engine.shape import Shape

__all__ = ["Job", "QueueFull", "Reservation", "Result", "Scheduler", "SchedulerStopped"]

logger = logging.getLogger("service.engine.scheduler")


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

    def _settle(self, result: list[Result] | None, error: BaseException | None) -> None:
        """Resolve the future from the worker thread (futures belong to their loop)."""

        def settle() -> None:
            if self.future.done():
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)  # type: ignore[arg-type]

        # A closed loop raises RuntimeError: nobody waits for this answer any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(settle)


class Reservation:
    """Room in the queue held for a request from its admission until it is submitted (or
    refused for another reason): requests admitted together cannot all count the same room."""

    def __init__(self, scheduler: Scheduler, count: int) -> None:
        self.scheduler = scheduler
        self.count = count
        self.active = True

    def release(self) -> None:
        """Give the room back (nothing once submitted or released)."""
        with self.scheduler._cond:
            self.scheduler._take_reservation(self)


@dataclass(eq=False)
class _Item:
    job: Job
    position: int
    units: int
    seq: int = field(default=0)
    tag: float = 0.0  # virtual finish time: the order in which waiting sentences are served


def _order(item: _Item) -> tuple[float, int]:
    return (item.tag, item.seq)


class Scheduler:
    """Groups waiting sentences into batches and runs them on a dedicated worker thread.

    Args:
        engine: runs the model; its batch size should be at least ``max_batch_sentences`` so
            that each batch is one forward pass.
        max_batch_tokens: budget of padded units (rows x longest row) per forward pass, or of
            units in the running batch with a streaming engine; a sentence longer than the
            budget runs alone.
        max_batch_sentences: rows per forward pass, or sentences in the running batch.
        queue_size: sentences that may wait; more are refused with :class:`QueueFull`.

    With a streaming engine, a request's sentences in the running batch are bounded by
    ``max_batch_sentences`` and ``max_batch_tokens``, and all requests' by twice those.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch_tokens: int,
        max_batch_sentences: int,
        queue_size: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_sentences = max_batch_sentences
        self.queue_size = queue_size
        self.metrics = metrics or Metrics()
        self._cond = threading.Condition()
        self._pending: list[_Item] = []
        self._seq = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._in_flight: dict[int, _Item] = {}  # streaming: sentences in the engine, by key
        self._flight_units = 0
        self._virtual = 0.0  # the tag of the last sentence served
        self._groups = itertools.count()
        self._to_drop: list[int] = []  # streaming: keys the engine is to stop running
        self._reserved = 0  # sentences of admitted requests not submitted yet

    @property
    def depth(self) -> int:
        """Sentences waiting (not counting the batch in the model)."""
        return len(self._pending)

    @property
    def streaming(self) -> bool:
        """Whether the engine takes sentences while it runs (continuous batching)."""
        return self.engine.continuous

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="elmo-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish what is queued, then end the worker; later submissions are refused."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def check_room(self, count: int) -> None:
        """Raise :class:`QueueFull` unless ``count`` more sentences fit the queue now (beside
        those waiting and those of admitted requests)."""
        waiting = len(self._pending) + self._reserved
        if waiting + count > self.queue_size:
            raise QueueFull(
                f"{waiting} sentences are waiting and this request adds {count}; "
                f"queue_size is {self.queue_size}"
            )

    def reserve(self, count: int) -> Reservation:
        """Hold room for a request's ``count`` sentences before working on it, or raise
        :class:`QueueFull` at once."""
        with self._cond:
            if self._stopping:
                raise SchedulerStopped("the server is shutting down")
            self.check_room(count)
            self._reserved += count
            return Reservation(self, count)

    def _take_reservation(self, reservation: Reservation) -> None:
        if reservation.active:
            reservation.active = False
            self._reserved -= reservation.count

    def submit(
        self,
        sentences: Sequence[PreparedSentence],
        shape: Shape | None = None,
        reservation: Reservation | None = None,
    ) -> Job:
        """Queue a request's sentences (call from the event loop that awaits the job), in the
        room its ``reservation`` holds, if any; with a ``shape``, the engine applies it to each
        sentence's vectors where they are made."""
        job = Job(sentences, asyncio.get_running_loop(), shape)
        job.group = next(self._groups)
        with self._cond:
            if reservation is not None:
                self._take_reservation(reservation)
            if not job.sentences:
                job.future.set_result([])
                return job
            if self._stopping:
                raise SchedulerStopped("the server is shutting down")
            self.check_room(len(job.sentences))
            for i, sentence in enumerate(job.sentences):
                job.tag = max(job.tag, self._virtual) + max(sentence.num_units, 1)
                item = _Item(job, i, sentence.num_units, next(self._seq), job.tag)
                bisect.insort(self._pending, item, key=_order)
            self.metrics.queue_depth.set(len(self._pending))
            self._cond.notify()
        return job

    def cancel(self, job: Job) -> None:
        """Drop a job's sentences, waiting or running (its client left or timed out)."""
        with self._cond:
            job.cancelled = True
            self._pending = [item for item in self._pending if item.job is not job]
            self.metrics.queue_depth.set(len(self._pending))
            running = [key for key, item in self._in_flight.items() if item.job is job]
            for key in running:
                self._release(self._in_flight.pop(key))
            # the worker tells the engine: this may be the event loop, which must not wait for
            # the model's pipe
            self._to_drop += running
            self._cond.notify_all()

    def _run(self) -> None:
        """Keep the engine busy: hand it the waiting sentences that fit (continuous: the first
        in fair order, beside those running, :meth:`_take_first`; batched: the first and its
        neighbours in length, :meth:`_take_batch`), and tell it which sentences to drop."""
        self.engine.open(self._deliver, self._lost)
        try:
            while True:
                with self._cond:
                    while not (self._to_drop or (self._pending and self._has_room())):
                        if self._stopping and not self._pending and not self._in_flight:
                            return
                        self._cond.wait()
                    drop, self._to_drop = self._to_drop, []
                    batch = self._hand_over()
                if drop:
                    self._drop(drop)
                if batch:
                    self._add(batch)
        finally:
            self.engine.close()

    def _drop(self, keys: list[int]) -> None:
        try:
            self.engine.drop(keys)
        except Exception:  # the engine is gone, and its sentences with it
            logger.exception("could not drop %d sentences from the model", len(keys))

    def _add(self, batch: list[_Item]) -> None:
        work = [
            Work(item.seq, item.job.group, item.job.sentences[item.position], item.job.shape)
            for item in batch
        ]
        try:
            self.engine.add(work)
        except Exception as exc:
            if not isinstance(exc, EngineUnavailable):  # (expected: the client is told)
                logger.exception("could not hand %d sentences to the model", len(batch))
            self._lost([item.seq for item in batch], exc)

    def _hand_over(self) -> list[_Item]:
        """Take the waiting sentences that fit into the engine (call locked)."""
        if not self._pending:
            return []
        batch = self._take_first() if self.engine.continuous else self._take_batch()
        for item in batch:
            self._in_flight[item.seq] = item
            item.job.flight_rows += 1
            item.job.flight_units += item.units
        self._flight_units += sum(item.units for item in batch)
        self.metrics.queue_depth.set(len(self._pending))
        if self.engine.continuous:  # the running batch, as it is now
            self.metrics.batch_sentences.observe(len(self._in_flight))
            self.metrics.batch_tokens.observe(self._flight_units)
        else:
            units = [item.units for item in batch]
            self.metrics.batch_sentences.observe(len(batch))
            self.metrics.batch_tokens.observe(sum(units))
            self.metrics.padding_efficiency.observe(sum(units) / (len(units) * max(*units, 1)))
        return batch

    def _has_room(self) -> bool:
        if not self.engine.continuous:  # one batch at a time
            return not self._in_flight
        return bool(self._take_first(dry=True))

    def _take_first(self, dry: bool = False) -> list[_Item]:
        """The first waiting sentences, in fair order, that fit beside those in flight: within
        their request's share (``max_batch_sentences``, ``max_batch_tokens``) and the batch's
        (twice those).  A request with nothing running always fits its share; a batch with
        nothing running takes at least one sentence.  ``dry``: only look.  A running batch has
        no padding, so lengths need no grouping."""
        rows = 2 * self.max_batch_sentences - len(self._in_flight)
        units = 2 * self.max_batch_tokens - self._flight_units
        share: dict[int, tuple[int, int]] = {}  # request → its rows and units with these
        taken: list[_Item] = []
        for item in self._pending:
            if rows <= 0:
                break
            job = item.job
            held_rows, held_units = share.get(id(job), (job.flight_rows, job.flight_units))
            fits_share = held_rows == 0 or (
                held_rows < self.max_batch_sentences
                and held_units + item.units <= self.max_batch_tokens
            )
            if not fits_share or (item.units > units and (taken or self._in_flight)):
                continue
            if dry:
                return [item]
            taken.append(item)
            share[id(job)] = (held_rows + 1, held_units + item.units)
            rows, units = rows - 1, units - item.units
        if taken:
            chosen = {id(item) for item in taken}
            self._pending = [item for item in self._pending if id(item) not in chosen]
            self._served(taken)
        return taken

    def _served(self, batch: list[_Item]) -> None:
        self._virtual = max([self._virtual, *(item.tag for item in batch)])

    def _deliver(self, results: list[tuple[int, Result]], seconds: float) -> None:
        """Finished sentences from the engine (its thread)."""
        with self._cond:
            done = [(self._in_flight.pop(key, None), array) for key, array in results]
            for item, _ in done:
                if item is not None:
                    self._release(item)
            self._cond.notify_all()
        self.metrics.inference_seconds.observe(seconds)
        for item, array in done:
            if item is not None:
                self._settle_item(item, array)

    def _lost(self, keys: list[int] | None, error: BaseException) -> None:
        """Sentences the engine will not return (None: all in flight); their requests fail."""
        with self._cond:
            chosen = list(self._in_flight) if keys is None else keys
            items = [item for key in chosen if (item := self._in_flight.pop(key, None))]
            for item in items:
                self._release(item)
            self._cond.notify_all()
        self._fail(items, error)

    def _release(self, item: _Item) -> None:
        """An item has left the engine (call locked)."""
        self._flight_units -= item.units
        item.job.flight_rows -= 1
        item.job.flight_units -= item.units

    def _take_batch(self) -> list[_Item]:
        """The first waiting sentence (in fair order) and its nearest neighbours in length,
        under the budget.

        Anchoring on the first sentence bounds every sentence's wait; growing the batch
        towards whichever neighbour adds the least padding keeps rows of similar length.
        """
        anchor = self._pending[0]
        ordered = sorted(self._pending, key=lambda item: (item.units, item.seq))
        lo = hi = next(i for i, item in enumerate(ordered) if item is anchor)
        longest = max(anchor.units, 1)
        while hi - lo + 1 < self.max_batch_sentences:
            rows = hi - lo + 1
            options = []
            if lo > 0 and longest * (rows + 1) <= self.max_batch_tokens:
                left = ordered[lo - 1]
                options.append((longest - left.units, left.seq, -1))
            if hi + 1 < len(ordered):
                right = ordered[hi + 1]
                if max(right.units, 1) * (rows + 1) <= self.max_batch_tokens:
                    options.append(((right.units - longest) * rows, right.seq, 1))
            if not options:
                break
            _, _, side = min(options)
            if side < 0:
                lo -= 1
            else:
                hi += 1
                longest = max(longest, ordered[hi].units)
        batch = ordered[lo : hi + 1]
        taken = {id(item) for item in batch}
        self._pending = [item for item in self._pending if id(item) not in taken]
        self._served(batch)
        return batch

    @staticmethod
    def _settle_item(item: _Item, array: Result) -> None:
        """One sentence's vectors; its request is answered with its last sentence.  Only one
        thread delivers (the worker, or the streaming engine's), so ``remaining`` needs no
        lock."""
        job = item.job
        if job.cancelled:
            return
        job.results[item.position] = array
        job.remaining -= 1
        if job.remaining == 0:
            job._settle(job.results, None)  # type: ignore[arg-type]

    def _fail(self, batch: list[_Item], error: BaseException) -> None:
        """Fail every request with a sentence in ``batch`` (their other sentences are dropped)."""
        for job in {id(item.job): item.job for item in batch}.values():
            self.cancel(job)
            job._settle(None, error)
