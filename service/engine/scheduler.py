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
import itertools
import logging
import threading
from collections.abc import Sequence

from elmo import PreparedSentence
from service.core.metrics import Metrics
from service.engine.interface import Engine, EngineUnavailable, Result, Work
from service.engine.jobs import Job, Queued, QueueFull, SchedulerStopped, fair_order
from service.engine.selection import first_that_fit, nearest_in_length
from service.engine.shape import Shape

__all__ = ["Job", "QueueFull", "Reservation", "Result", "Scheduler", "SchedulerStopped"]

logger = logging.getLogger("service.engine.scheduler")


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
        self._pending: list[Queued] = []
        self._seq = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._in_flight: dict[int, Queued] = {}  # streaming: sentences in the engine, by key
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
                item = Queued(job, i, sentence.num_units, next(self._seq), job.tag)
                bisect.insort(self._pending, item, key=fair_order)
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

    def _add(self, batch: list[Queued]) -> None:
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

    def _hand_over(self) -> list[Queued]:
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

    def _take_first(self, dry: bool = False) -> list[Queued]:
        """The first waiting sentences that fit beside those in flight (``dry``: only look)."""
        rows = 2 * self.max_batch_sentences - len(self._in_flight)
        units = 2 * self.max_batch_tokens - self._flight_units
        share = (self.max_batch_sentences, self.max_batch_tokens)
        taken = first_that_fit(self._pending, rows, units, share, bool(self._in_flight), dry)
        if taken and not dry:
            self._take(taken)
        return taken

    def _take(self, batch: list[Queued]) -> None:
        """Waiting sentences leave the queue (call locked)."""
        chosen = {id(item) for item in batch}
        self._pending = [item for item in self._pending if id(item) not in chosen]
        self._served(batch)

    def _served(self, batch: list[Queued]) -> None:
        self._virtual = max([self._virtual, *(item.tag for item in batch)])

    def _deliver(
        self, results: list[tuple[int, Result]], seconds: float, cache: tuple[int, int]
    ) -> None:
        """Finished sentences from the engine (its thread)."""
        with self._cond:
            done = [(self._in_flight.pop(key, None), array) for key, array in results]
            for item, _ in done:
                if item is not None:
                    self._release(item)
            self._cond.notify_all()
        self.metrics.inference_seconds.observe(seconds)
        hits, misses = cache
        self.metrics.token_cache.labels(result="hit").inc(hits)
        self.metrics.token_cache.labels(result="miss").inc(misses)
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

    def _release(self, item: Queued) -> None:
        """An item has left the engine (call locked)."""
        self._flight_units -= item.units
        item.job.flight_rows -= 1
        item.job.flight_units -= item.units

    def _take_batch(self) -> list[Queued]:
        batch = nearest_in_length(self._pending, self.max_batch_sentences, self.max_batch_tokens)
        self._take(batch)
        return batch

    @staticmethod
    def _settle_item(item: Queued, array: Result) -> None:
        """One sentence's vectors; its request is answered with its last sentence.  Only one
        thread delivers (the worker, or the streaming engine's), so ``remaining`` needs no
        lock."""
        job = item.job
        if job.cancelled:
            return
        job.results[item.position] = array
        job.remaining -= 1
        if job.remaining == 0:
            job.complete()

    def _fail(self, batch: list[Queued], error: BaseException) -> None:
        """Fail every request with a sentence in ``batch`` (their other sentences are dropped)."""
        for job in {id(item.job): item.job for item in batch}.values():
            self.cancel(job)
            job.fail(error)
