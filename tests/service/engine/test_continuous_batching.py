"""Continuous batching in the server: the scheduler keeps the running batch full within its
limits, answers equal the library's, and failures reach exactly the requests they touch."""

import asyncio
import os
import signal
import threading
import time

import numpy as np
import pytest

from elmo.inference.embedder import Embedder
from factories import ELMO_REFERENCE, random_sentences
from service.engine.interface import (
    Add,
    Done,
    EngineUnavailable,
    Entry,
    Failed,
    Stop,
    Work,
)
from service.engine.process import InferenceProcess
from service.engine.scheduler import Scheduler
from service.engine.streaming import ThreadStream, serve_stream

pytestmark = pytest.mark.anyio


class Spy(ThreadStream):
    """A thread engine that records, at every hand-over, what the scheduler had in flight."""

    def __init__(self, embedder: Embedder, fail: bool = False):
        super().__init__(embedder.model)
        self.scheduler: Scheduler | None = None
        self.in_flight: list[tuple[int, int]] = []  # (sentences, units)
        self.per_request: list[tuple[int, int]] = []  # the same, of the request holding most
        self.fail = fail

    def add(self, sentences):
        assert self.scheduler is not None
        self.in_flight.append((len(self.scheduler._in_flight), self.scheduler._flight_units))
        held: dict[int, list[int]] = {}
        for item in self.scheduler._in_flight.values():
            rows_units = held.setdefault(id(item.job), [0, 0])
            rows_units[0] += 1
            rows_units[1] += item.units
        self.per_request.append(max(map(tuple, held.values()), default=(0, 0)))
        if self.fail:
            raise RuntimeError("model exploded")
        super().add(sentences)


def _scheduler(engine, **limits) -> Scheduler:
    settings = {"max_batch_tokens": 80, "max_batch_sentences": 5, "queue_size": 200} | limits
    scheduler = Scheduler(engine, **settings)
    if isinstance(engine, Spy):
        engine.scheduler = scheduler
    return scheduler


async def test_requests_get_the_embedders_vectors_and_requests_and_batch_stay_in_limits(
    embedder,
):
    spy = Spy(embedder)
    scheduler = _scheduler(spy)
    assert scheduler.streaming
    requests = [embedder.prepare(random_sentences(3, 12, seed=k)) for k in range(10)]
    scheduler.start()
    try:
        jobs = [scheduler.submit(r) for r in requests]
        results = await asyncio.wait_for(asyncio.gather(*(j.future for j in jobs)), 60)
    finally:
        scheduler.stop(30)
    for request, arrays in zip(requests, results, strict=True):
        for sentence, got in zip(request, arrays, strict=True):
            np.testing.assert_array_equal(got, embedder.embed_prepared([sentence])[0])
    assert len(spy.in_flight) > 1
    # a request holds at most the limits, all of them together twice that
    assert all(rows <= 10 and units <= 160 for rows, units in spy.in_flight)
    assert all(rows <= 5 and units <= 80 for rows, units in spy.per_request)
    assert not scheduler._in_flight and scheduler._flight_units == 0 and spy._thread is None


def _words(embedder: Embedder, count: int, words: int, seed: int):
    sentences = random_sentences(count, words, seed=seed, min_words=words)
    return embedder.prepare(sentences)


async def test_a_request_arriving_while_another_fills_the_batch_joins_at_once(embedder):
    scheduler = _scheduler(ThreadStream(embedder.model), max_batch_sentences=5, max_batch_tokens=80)
    big = scheduler.submit(_words(embedder, 20, 10, seed=40))  # not started: handed over by hand
    with scheduler._cond:
        first = scheduler._hand_over()
        assert [item.job for item in first] == [big] * 5  # its share: 5 rows
        assert scheduler._hand_over() == []  # the rest waits for its own sentences to finish
    small = [scheduler.submit(_words(embedder, 1, 3, seed=41 + i)) for i in range(6)]
    with scheduler._cond:
        joined = scheduler._hand_over()
    # beside the big request's 5 rows, the batch takes 5 more (twice the limit): 5 small ones
    assert [item.job for item in joined] == small[:5]
    assert scheduler._flight_units == 5 * 10 + 5 * 3
    scheduler.cancel(big)  # its rows leave the batch, and the engine is told to drop them
    assert scheduler._to_drop == [item.seq for item in first]
    assert big.flight_rows == 0 and scheduler._flight_units == 5 * 3
    with scheduler._cond:
        assert [item.job for item in scheduler._hand_over()] == [small[5]]


async def test_a_cancelled_request_stops_running_in_the_engine(embedder):
    spy = Spy(embedder)
    dropped = []
    spy.drop = lambda keys: (dropped.extend(keys), ThreadStream.drop(spy, keys))
    scheduler = _scheduler(spy, max_batch_sentences=4, max_batch_tokens=1200)
    scheduler.start()
    try:
        job = scheduler.submit(_words(embedder, 4, 300, seed=50))  # long: still running
        for _ in range(100):  # until it is in the running batch
            if scheduler._in_flight:
                break
            await asyncio.sleep(0.01)
        keys = sorted(scheduler._in_flight)
        assert len(keys) == 4
        scheduler.cancel(job)
        for _ in range(500):
            if dropped:
                break
            await asyncio.sleep(0.01)
        assert sorted(dropped) == keys and not scheduler._in_flight
        after = scheduler.submit(_words(embedder, 1, 4, seed=51))  # the model goes on
        assert len(await asyncio.wait_for(after.future, 60)) == 1
    finally:
        scheduler.stop(30)
    assert not job.future.done()  # a cancelled request is never answered


async def test_a_sentence_longer_than_the_budget_still_runs_alone(embedder):
    scheduler = _scheduler(ThreadStream(embedder.model), max_batch_tokens=4)
    (long,) = embedder.prepare([["a", "b", "c", "d", "e", "f"]])
    scheduler.start()
    try:
        (got,) = await asyncio.wait_for(scheduler.submit([long]).future, 60)
    finally:
        scheduler.stop(30)
    np.testing.assert_array_equal(got, embedder.embed_prepared([long])[0])


async def test_a_failed_hand_over_fails_its_request_and_the_next_one_runs(embedder):
    spy = Spy(embedder, fail=True)
    scheduler = _scheduler(spy)
    scheduler.start()
    try:
        with pytest.raises(RuntimeError, match="model exploded"):
            await asyncio.wait_for(scheduler.submit(embedder.prepare([["x"]])).future, 60)
        spy.fail = False
        assert len(await asyncio.wait_for(scheduler.submit(embedder.prepare([["y"]])).future, 60))
    finally:
        scheduler.stop(30)


def test_a_bad_sentence_fails_only_its_keys_and_the_loop_goes_on(embedder):
    good = embedder.prepare([["fine", "words"]])[0].char_ids.numpy()
    inbox = [
        [
            Add([Entry(1, 1, np.zeros((0, 50), dtype=np.int64), None, None)]),
            Add([Entry(2, 2, good, None, None)]),
        ],
        [Stop()],
    ]
    sent = []

    def receive(wait: bool):
        return inbox.pop(0) if inbox else []

    serve_stream(embedder.model, receive, sent.append)
    (failed,) = [m for m in sent if isinstance(m, Failed)]
    assert failed.keys == [1] and "n >= 1" in failed.reason
    done = [result for m in sent if isinstance(m, Done) for result in m.results]
    assert [key for key, _ in done] == [2]


@pytest.fixture(scope="module")
def streaming_process():
    process = InferenceProcess(
        ELMO_REFERENCE, batch_size=64, device="cpu", torch_threads=1, streaming=True
    )
    process.start()
    yield process
    process.stop(timeout=10)


class Collector:
    def __init__(self):
        self.done: dict[int, np.ndarray] = {}
        self.lost: list[tuple[list[int] | None, BaseException]] = []
        self.event = threading.Event()
        self.cache = (0, 0)  # layer-0 (hits, misses) reported

    def deliver(self, results, seconds, cache):
        assert seconds >= 0 and min(cache) >= 0
        self.done.update(results)
        self.cache = tuple(a + b for a, b in zip(self.cache, cache, strict=True))
        self.event.set()

    def fail(self, keys, error):
        self.lost.append((keys, error))
        self.event.set()

    def wait(self, condition) -> None:
        for _ in range(600):
            if condition():
                return
            self.event.wait(0.1)
            self.event.clear()
        raise AssertionError("nothing came back")


def test_the_streaming_child_returns_the_embedders_vectors_and_survives_a_kill(
    streaming_process, embedder
):
    collector = Collector()
    streaming_process.open(collector.deliver, collector.fail)
    prepared = embedder.prepare(random_sentences(8, 15, seed=30))
    streaming_process.add([Work(i, i, sentence) for i, sentence in enumerate(prepared)])
    collector.wait(lambda: len(collector.done) == 8)
    for i, sentence in enumerate(prepared):
        np.testing.assert_array_equal(collector.done[i], embedder.embed_prepared([sentence])[0])
    # each sentence's distinct units, boundaries included, were hits or misses of the unit table
    distinct = [len({tuple(row) for row in s.char_ids.tolist()}) + 2 for s in prepared]
    assert sum(collector.cache) == sum(distinct)
    assert collector.cache[0] >= 2 * (len(prepared) - 1)  # <S> and </S> after the first

    pid, restarts = streaming_process.pid, streaming_process.restarts
    os.kill(pid, signal.SIGSTOP)  # a sentence in flight when the child dies
    streaming_process.add([Work(100, 100, prepared[0])])
    os.kill(pid, signal.SIGKILL)
    collector.wait(lambda: collector.lost)
    ((keys, error),) = collector.lost
    assert keys is None  # everything in flight
    assert isinstance(error, EngineUnavailable) and error.code == "inference_restarted"
    with pytest.raises(EngineUnavailable) as refused:  # while the new child starts: at once
        streaming_process.add([Work(101, 101, prepared[1])])
    assert refused.value.code == "inference_unavailable" and refused.value.retry_after_s == 5
    deadline = time.monotonic() + 60
    while not streaming_process.available and time.monotonic() < deadline:
        time.sleep(0.05)
    streaming_process.add([Work(101, 101, prepared[1])])
    assert streaming_process.restarts == restarts + 1
    assert streaming_process.pid not in (None, pid)
    collector.wait(lambda: 101 in collector.done)
    np.testing.assert_array_equal(collector.done[101], embedder.embed_prepared([prepared[1]])[0])
    assert 100 not in collector.done


def test_serve_stream_runs_the_engine_it_is_given(embedder, monkeypatch):
    import service.engine.streaming as streaming

    engine = streaming.make_engine(embedder.model)

    def no_new_engine(*args, **kwargs):
        raise AssertionError("made another engine")

    monkeypatch.setattr(streaming, "make_engine", no_new_engine)
    ids = embedder.prepare([["given"]])[0].char_ids.numpy()
    inbox = [[Add([Entry(7, 7, ids, None, None)])], [Stop()]]
    sent = []
    receive = lambda wait: inbox.pop(0) if inbox else []  # noqa: E731
    serve_stream(embedder.model, receive, sent.append, None, engine)  # one block finishes it
    assert [key for m in sent if isinstance(m, Done) for key, _ in m.results] == [7]


@pytest.mark.parametrize("ending", ["stop", "closed pipe"])
def test_the_childs_pipe_threads_deliver_every_sentence_and_end_the_loop(embedder, ending):
    from multiprocessing import Pipe

    from service.engine.child import stream_in_child
    from service.engine.streaming import make_engine

    prepared = embedder.prepare(random_sentences(6, 10, seed=31))
    server, child = Pipe()
    runner = threading.Thread(
        target=stream_in_child, args=(child, embedder, make_engine(embedder.model))
    )
    runner.start()
    try:
        for i, sentence in enumerate(prepared):  # one message each, as the server sends them
            server.send(Add.of([Work(i, i, sentence)]))
        done = {}
        while len(done) < len(prepared):
            assert server.poll(60), "nothing came back"
            message = server.recv()
            assert isinstance(message, Done) and message.seconds >= 0
            done.update(message.results)
    finally:
        if ending == "stop":
            server.send(Stop())
        else:
            server.close()
        runner.join(30)
    assert not runner.is_alive()
    for i, sentence in enumerate(prepared):
        np.testing.assert_array_equal(done[i], embedder.embed_prepared([sentence])[0])


def test_a_result_the_child_cannot_send_ends_its_loop_instead_of_hanging(embedder):
    from multiprocessing import Pipe

    from service.engine.child import stream_in_child
    from service.engine.streaming import make_engine

    class Unsendable:
        def __init__(self, conn):
            self.recv = conn.recv

        def send(self, message):
            raise TypeError("cannot pickle this result")

    server, child = Pipe()
    runner = threading.Thread(
        target=stream_in_child, args=(Unsendable(child), embedder, make_engine(embedder.model))
    )
    runner.start()
    server.send(Add.of([Work(0, 0, embedder.prepare([["lost"]])[0])]))
    runner.join(60)
    server.close()  # ends the child's reader thread
    assert not runner.is_alive()  # the process would exit: the server restarts it


def test_the_stream_sends_what_a_shape_keeps_of_a_sentences_vectors(embedder):
    import pickle

    from elmo.inference.pooling import Mix
    from service.engine.shape import Refusal, Shape, shape_vectors

    prepared = embedder.prepare([["the", "cat", "sat"], ["el", "gato"]])
    pooled = Shape.openai(embedder.num_layers, "mean")
    overflow = Shape((0, 1, 2), Mix((0.0, 0.0, 0.0), 3e38), "none", False, "mean")
    message = Add.of([Work(1, 1, prepared[0], pooled), Work(2, 2, prepared[1], overflow)])
    inbox = [[pickle.loads(pickle.dumps(message))], [Stop()]]  # as through the pipe
    sent = []
    serve_stream(embedder.model, lambda wait: inbox.pop(0) if inbox else [], sent.append)
    done = dict(result for m in sent if isinstance(m, Done) for result in m.results)
    words = embedder.embed_prepared([prepared[0]])[0]
    want = shape_vectors(words, (0, 1, 2), Mix.parse("average", 3), "mean", True)
    np.testing.assert_array_equal(done[1], want)
    assert done[1].shape == (embedder.dim,)
    assert isinstance(done[2], Refusal) and "float32" in done[2].reason
