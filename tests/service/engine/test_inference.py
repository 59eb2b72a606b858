"""The model's child process: same vectors as in process, clear failures, a replaced child."""

import os
import signal

import numpy as np
import pytest

from factories import ELMO_REFERENCE, random_sentences
from service.engine.interface import EngineUnavailable, Work
from service.engine.process import InferenceProcess


@pytest.fixture(scope="module")
def inference():
    process = InferenceProcess(ELMO_REFERENCE, batch_size=64, device="cpu", torch_threads=1)
    process.start()
    yield process
    process.stop(timeout=10)


def _embed(engine, prepared):
    """Sentences through a batched engine as the scheduler hands them: the answers in order."""
    done, lost = {}, []
    engine.open(lambda results, _s, _c: done.update(results), lambda keys, e: lost.append(e))
    engine.add([Work(i, 0, sentence) for i, sentence in enumerate(prepared)])
    if lost:
        raise lost[0]
    return [done[i] for i in range(len(prepared))]


def test_the_child_gives_the_vectors_of_the_embedder_in_this_process(inference, embedder):
    prepared = embedder.prepare(random_sentences(12, 20, seed=21))
    expected = embedder.embed_prepared(prepared)
    for got, want in zip(_embed(inference, prepared), expected, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_a_killed_child_fails_its_batch_with_a_503_and_is_replaced(inference, embedder):
    prepared = embedder.prepare([["one", "sentence"]])
    first_pid, restarts = inference.pid, inference.restarts
    os.kill(first_pid, signal.SIGKILL)
    with pytest.raises(EngineUnavailable) as failed:
        _embed(inference, prepared)
    assert failed.value.code == "inference_restarted"
    assert inference.restarts == restarts + 1 and inference.pid not in (None, first_pid)
    np.testing.assert_array_equal(
        _embed(inference, prepared)[0], embedder.embed_prepared(prepared)[0]
    )


def test_a_failed_restart_is_tried_again_by_the_next_batch(inference, embedder, monkeypatch):
    prepared = embedder.prepare([["again"]])
    real_start = inference._start

    def cannot_start() -> None:
        raise RuntimeError("no memory left")

    os.kill(inference.pid, signal.SIGKILL)
    monkeypatch.setattr(inference, "_start", cannot_start)
    with pytest.raises(EngineUnavailable) as died:
        _embed(inference, prepared)
    assert died.value.code == "inference_restarted" and inference.pid is None
    with pytest.raises(EngineUnavailable) as still_down:
        _embed(inference, prepared)
    assert still_down.value.code == "inference_unavailable"
    monkeypatch.setattr(inference, "_start", real_start)
    np.testing.assert_array_equal(
        _embed(inference, prepared)[0], embedder.embed_prepared(prepared)[0]
    )


def test_a_model_that_cannot_load_fails_start_with_the_reason(tmp_path):
    process = InferenceProcess(tmp_path / "missing", batch_size=4, device="cpu")
    with pytest.raises(RuntimeError, match=r"could not load the model.*missing"):
        process.start()
    assert process.pid is None


def test_stop_ends_the_child():
    process = InferenceProcess(ELMO_REFERENCE, batch_size=4, device="cpu", torch_threads=1)
    process.start()
    pid = process.pid
    process.stop(timeout=10)
    assert process.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
