import asyncio

import numpy as np
import pytest

from elmo.inference.embedder import Embedder, PreparedSentence
from factories import random_sentences
from service.engine.batches import Batches
from service.engine.scheduler import QueueFull, Scheduler, SchedulerStopped

pytestmark = pytest.mark.anyio


class RecordingEmbedder:
    """Runs the real model and records each batch's sentence lengths."""

    def __init__(self, embedder: Embedder, fail: bool = False):
        self.embedder = embedder
        self.token_cache = embedder.token_cache
        self.batches: list[list[int]] = []
        self.fail = fail

    def embed_prepared(self, sentences: list[PreparedSentence]) -> list[np.ndarray]:
        self.batches.append([s.num_units for s in sentences])
        if self.fail:
            raise RuntimeError("model exploded")
        return self.embedder.embed_prepared(sentences)


def _sentences(embedder: Embedder, lengths: list[int], seed: int = 0) -> list[PreparedSentence]:
    tokens = [random_sentences(1, n, seed=seed + i, min_words=n)[0] for i, n in enumerate(lengths)]
    return embedder.prepare(tokens)


def _scheduler(model, **limits) -> Scheduler:
    """A scheduler of whole batches run by ``model`` (an embedder, or one that records)."""
    settings = {"max_batch_tokens": 64, "max_batch_sentences": 8, "queue_size": 100} | limits
    return Scheduler(Batches(model), **settings)


async def test_batches_group_similar_lengths_of_several_requests_under_the_token_budget(embedder):
    spy = RecordingEmbedder(embedder)
    scheduler = _scheduler(spy, max_batch_tokens=64, max_batch_sentences=8)
    requests = [[3, 30], [4, 29], [5, 3], [31, 2]]
    jobs = [scheduler.submit(_sentences(embedder, n, seed=i)) for i, n in enumerate(requests)]
    scheduler.start()
    try:
        results = await asyncio.wait_for(asyncio.gather(*(j.future for j in jobs)), 30)
    finally:
        scheduler.stop()
    # the small ones first (fair order: each request's first sentence), then 31 beside 30
    assert sorted(sorted(b) for b in spy.batches) == [[2, 3, 3, 4, 5], [29], [30, 31]]
    for batch in spy.batches:
        assert len(batch) * max(batch) <= 64
    for lengths, arrays in zip(requests, results, strict=True):
        assert [a.shape[1] for a in arrays] == lengths  # each request gets its own rows back


async def test_answers_equal_the_embedder_run_on_each_request_alone(embedder):
    scheduler = _scheduler(embedder, max_batch_tokens=400, max_batch_sentences=16)
    requests = [_sentences(embedder, [n, n + 7, 2], seed=10 * n) for n in range(1, 9)]
    scheduler.start()
    try:
        jobs = [scheduler.submit(r) for r in requests]
        results = await asyncio.wait_for(asyncio.gather(*(j.future for j in jobs)), 30)
    finally:
        scheduler.stop()
    for request, arrays in zip(requests, results, strict=True):
        for sentence, got in zip(request, arrays, strict=True):
            np.testing.assert_array_equal(got, embedder.embed_prepared([sentence])[0])


async def test_a_request_larger_than_one_batch_is_split_not_refused(embedder):
    spy = RecordingEmbedder(embedder)
    scheduler = _scheduler(spy, max_batch_tokens=40, max_batch_sentences=4)
    sentences = _sentences(embedder, [10] * 13)
    scheduler.start()
    try:
        arrays = await asyncio.wait_for(scheduler.submit(sentences).future, 30)
    finally:
        scheduler.stop()
    assert len(arrays) == 13 and len(spy.batches) == 4
    assert all(len(b) <= 4 for b in spy.batches)


async def test_a_full_queue_refuses_the_whole_request_and_keeps_the_rest(embedder):
    scheduler = _scheduler(embedder, queue_size=5)
    first = scheduler.submit(_sentences(embedder, [3, 3, 3]))
    with pytest.raises(QueueFull, match="3 sentences are waiting and this request adds 3"):
        scheduler.submit(_sentences(embedder, [2, 2, 2]))
    assert scheduler.depth == 3
    scheduler.start()
    try:
        assert len(await asyncio.wait_for(first.future, 30)) == 3
    finally:
        scheduler.stop()
    with pytest.raises(SchedulerStopped):
        scheduler.submit(_sentences(embedder, [2]))


async def test_room_reserved_at_admission_is_held_until_submitted_or_released(embedder):
    scheduler = _scheduler(embedder, queue_size=5)
    held = scheduler.reserve(3)  # admitted, still tokenizing
    with pytest.raises(QueueFull, match="3 sentences are waiting and this request adds 3"):
        scheduler.reserve(3)
    other = scheduler.reserve(2)
    other.release()  # refused for another reason: its room goes back
    other.release()  # (once)
    job = scheduler.submit(_sentences(embedder, [2, 2, 2]), reservation=held)  # in its room
    assert scheduler.depth == 3 and scheduler._reserved == 0
    held.release()  # nothing: it was submitted
    assert scheduler._reserved == 0
    scheduler.reserve(2)
    with pytest.raises(QueueFull):
        scheduler.reserve(1)
    scheduler.cancel(job)
    scheduler.stop()
    with pytest.raises(SchedulerStopped):
        scheduler.reserve(1)


async def test_a_cancelled_request_leaves_the_queue_and_is_never_run(embedder):
    spy = RecordingEmbedder(embedder)
    scheduler = _scheduler(spy)
    gone = scheduler.submit(_sentences(embedder, [7, 7]))
    kept = scheduler.submit(_sentences(embedder, [2]))
    scheduler.cancel(gone)
    assert scheduler.depth == 1
    scheduler.start()
    try:
        await asyncio.wait_for(kept.future, 30)
    finally:
        scheduler.stop()
    assert spy.batches == [[2]] and not gone.future.done()


async def test_a_model_failure_fails_its_requests_and_the_worker_keeps_going(embedder):
    spy = RecordingEmbedder(embedder, fail=True)
    scheduler = _scheduler(spy)
    scheduler.start()
    try:
        with pytest.raises(RuntimeError, match="model exploded"):
            await asyncio.wait_for(scheduler.submit(_sentences(embedder, [3])).future, 30)
        spy.fail = False
        assert len(await asyncio.wait_for(scheduler.submit(_sentences(embedder, [3])).future, 30))
    finally:
        scheduler.stop()


async def test_a_small_request_behind_a_large_one_is_served_in_turn_not_after_it(embedder):
    spy = RecordingEmbedder(embedder)
    scheduler = _scheduler(spy, max_batch_tokens=64, max_batch_sentences=2, queue_size=200)
    large = scheduler.submit(_sentences(embedder, [6] * 40, seed=1))  # 20 batches of two
    small = scheduler.submit(_sentences(embedder, [1], seed=2))  # arrives after all of them
    order = []
    large.future.add_done_callback(lambda _: order.append("large"))
    small.future.add_done_callback(lambda _: order.append("small"))
    scheduler.start()
    try:
        await asyncio.wait_for(asyncio.gather(large.future, small.future), 60)
    finally:
        scheduler.stop()
    assert order == ["small", "large"]
    first_with_small = next(i for i, batch in enumerate(spy.batches) if 1 in batch)
    assert first_with_small <= 1, spy.batches  # in the first batches, not the 21st


async def test_two_requests_waiting_together_are_served_alternately(embedder):
    spy = RecordingEmbedder(embedder)
    scheduler = _scheduler(spy, max_batch_tokens=1000, max_batch_sentences=1, queue_size=200)
    first = scheduler.submit(_sentences(embedder, [4] * 6, seed=3))
    second = scheduler.submit(_sentences(embedder, [5] * 6, seed=4))
    scheduler.start()
    try:
        await asyncio.wait_for(asyncio.gather(first.future, second.future), 60)
    finally:
        scheduler.stop()
    served = [batch[0] for batch in spy.batches]  # units: 4 and 5
    assert served[:4] == [4, 5, 4, 5] and sorted(served) == [4] * 6 + [5] * 6
