"""Whole batches: sentences of similar length run as one forward pass, then all come back.

On a GPU (and wherever continuous batching is off) the scheduler hands the engine a batch of
sentences close in length, and the engine runs them through
:meth:`elmo.Embedder.embed_prepared` and delivers every one before ``add`` returns.  The same
:func:`run_batch` answers an :class:`~service.engine.interface.Add` in the model's child
process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch

from elmo import Embedder, PreparedSentence
from service.engine.interface import (
    Add,
    Deliver,
    Done,
    Entry,
    Fail,
    Failed,
    FromEngine,
    Work,
    deliver_message,
    keys_of,
    reason,
    shaped,
)

__all__ = ["Batches", "run_batch"]

logger = logging.getLogger("service.engine.batches")


def run_batch(embedder: Embedder, entries: Sequence[Entry]) -> FromEngine:
    """One forward pass over ``entries``: each one's answer, or why none came (a failed batch
    fails its requests, never the engine)."""
    started = time.perf_counter()
    before = _cache_counts(embedder)
    try:
        batch = [PreparedSentence(torch.from_numpy(e.char_ids), e.word_units) for e in entries]
        vectors = embedder.embed_prepared(batch)
        results = [(e.key, shaped(e, v)) for e, v in zip(entries, vectors, strict=True)]
    except Exception as exc:
        logger.exception("inference failed for a batch of %d sentences", len(entries))
        return Failed(keys_of(entries), reason(exc))
    after = _cache_counts(embedder)
    cache = (after[0] - before[0], after[1] - before[1])
    return Done(results, time.perf_counter() - started, cache)


def _cache_counts(embedder: Embedder) -> tuple[int, int]:
    """The embedder's layer-0 cache's (hits, misses) so far; (0, 0) without one."""
    if embedder.token_cache is None:
        return 0, 0
    stats = embedder.token_cache.stats()
    return stats.hits, stats.misses


class Batches:
    """A batched engine in this process (``ELMO_INFERENCE_PROCESS=false``, or a given model):
    ``add`` runs its sentences in the calling thread, the scheduler's."""

    continuous = False

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._deliver: Deliver | None = None
        self._fail: Fail | None = None

    def open(self, deliver: Deliver, fail: Fail) -> None:
        self._deliver, self._fail = deliver, fail

    def add(self, work: Sequence[Work]) -> None:
        assert self._deliver is not None and self._fail is not None, "open the engine first"
        message = run_batch(self.embedder, Add.of(work).entries)
        deliver_message(message, self._deliver, self._fail)

    def drop(self, keys: Sequence[int]) -> None:
        """Nothing runs between two calls of ``add``: nothing to drop."""

    def close(self) -> None:
        self._deliver = self._fail = None
