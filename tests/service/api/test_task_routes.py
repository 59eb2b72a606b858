"""``elmo serve --task``: ``POST /v1/classify`` and ``POST /v1/tag`` on tiny task models."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from elmo.inference.embedder import Embedder
from elmo.io.bundle import save_bundle
from elmo.tasks import TaskConfig, load_task, read_dataset, train_task
from factories import labelled_sentences, tiny_model, write_labelled
from service.app import _route_paths, create_app
from service.core.settings import Settings

pytestmark = pytest.mark.anyio

TEXT = "the film was good."


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny biLMs, and tasks trained in a few epochs: classify and tag on ``model``, and
    classify on ``other``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("task-routes")
        save_bundle(tiny_model(), root / "model")
        save_bundle(tiny_model(seed=1), root / "other")
        for split, count, seed in (("train", 24, 1), ("valid", 8, 2)):
            write_labelled(root, split, labelled_sentences(count, seed))
        found = {}
        for name, kind, suffix, base in (
            ("polarity", "classify", "tsv", "model"),
            ("tags", "tag", "conll", "model"),
            ("elsewhere", "classify", "tsv", "other"),
        ):
            config = TaskConfig(task=kind, epochs=2, batch_size=8, lr=0.05, dropout=0.0)
            train_task(
                config,
                root / base,
                read_dataset(root / f"train.{suffix}", kind),
                read_dataset(root / f"valid.{suffix}", kind),
                root / name,
                progress=False,
            )
            found[name] = root / name
        found["model"], found["other"] = root / "model", root / "other"
        return found
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@contextlib.asynccontextmanager
async def serving(
    app_kwargs: dict[str, Any], *, ready: bool = True, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app with its lifespan running (in-process model), and an httpx client to it."""
    app = create_app(Settings(inference_process=False, **settings), **app_kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            state = app.state.service
            for _ in range(1000):
                if state.ready or state.load_error:
                    break
                await asyncio.sleep(0.01)
            if ready:
                assert state.ready, state.load_error
            yield client, app


def serve_task(tasks: dict[str, Path], name: str, **settings: Any) -> Any:
    """The ``--model model --task NAME`` service: the task checked against the model path."""
    return serving({"model_path": tasks["model"]}, task=tasks[name], **settings)


async def test_classify_answers_as_the_predictor(tasks):
    predictor = load_task(tasks["polarity"])
    inputs = [TEXT, "awful sad film", "a"]
    async with serve_task(tasks, "polarity") as (client, _):
        text = await client.post("/v1/classify", json={"inputs": inputs})
        lists = await client.post(
            "/v1/classify", json={"inputs": [["nice", "great"], ["the", "poor", "film"]]}
        )
        tagged = await client.post("/v1/tag", json={"inputs": TEXT})
        info = (await client.get("/info")).json()
    assert text.status_code == 200, text.text
    assert tagged.status_code == 404
    assert info["task"] == {
        "name": "polarity",
        "kind": "classify",
        "labels": predictor.labels,
        "route": "/v1/classify",
    }
    for response in (text, lists):
        body = response.json()
        assert body["task"] == {"name": "polarity", "kind": "classify"}
        assert body["usage"]["tokens"] == sum(len(d["tokens"]) for d in body["data"])
        expected = predictor.predict([d["tokens"] for d in body["data"]])
        for item, want in zip(body["data"], expected, strict=True):
            assert item["label"] == want["label"]
            assert item["probabilities"].keys() == want["probabilities"].keys()
            for label, p in want["probabilities"].items():
                assert item["probabilities"][label] == pytest.approx(p, abs=1e-5)
    assert text.json()["data"][0]["offsets"][0] == [0, 3]
    assert lists.json()["data"][1]["tokens"] == ["the", "poor", "film"]
    assert lists.json()["data"][1]["offsets"] is None


async def test_tag_answers_one_tag_per_token(tasks):
    predictor = load_task(tasks["tags"])
    async with serve_task(tasks, "tags") as (client, _):
        response = await client.post("/v1/tag", json={"inputs": [TEXT, "nice film"]})
        classify = await client.post("/v1/classify", json={"inputs": TEXT})
    assert response.status_code == 200, response.text
    assert classify.status_code == 404
    body = response.json()
    assert body["task"] == {"name": "tags", "kind": "tag"}
    expected = predictor.predict([d["tokens"] for d in body["data"]])
    for item, want in zip(body["data"], expected, strict=True):
        assert len(item["tags"]) == len(item["tokens"]) == len(item["probabilities"])
        assert item["tags"] == want["tags"]
        assert set(item["tags"]) <= set(predictor.labels)
        for got, p in zip(item["probabilities"], want["probabilities"], strict=True):
            assert got == pytest.approx(p, abs=1e-5)


async def test_an_injected_task_serves_on_the_injected_embedder(tasks):
    embedder = Embedder.from_pretrained(tasks["model"])
    predictor = load_task(tasks["polarity"])
    async with serving({"embedder": embedder, "task": predictor}) as (client, _):
        response = await client.post("/v1/classify", json={"inputs": [["good", "film"]]})
    assert response.status_code == 200, response.text
    want = predictor.predict([["good", "film"]])[0]
    assert response.json()["data"][0]["label"] == want["label"]


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        ({"inputs": []}, 400, "inputs", []),
        ({"inputs": ""}, 400, "inputs", []),
        ({"inputs": [[]]}, 400, "inputs", []),
        ({"inputs": ["a"] * 4}, 400, "inputs", ["max_inputs=3"]),
        ({"inputs": "good " * 9}, 400, "inputs", ["max_sentence_tokens=6"]),
        ({"inputs": "good", "pooling": "mean"}, 400, None, ["pooling"]),
        ({"inputs": "good", "model": "nope"}, 404, "model", ["nope"]),
        ({"inputs": "good", "truncate": "yes"}, 400, None, ["truncate"]),
    ],
)
async def test_bad_requests_are_refused_as_embed_refuses_them(tasks, body, status, param, words):
    async with serve_task(tasks, "polarity", max_inputs=3, max_sentence_tokens=6) as (client, _):
        response = await client.post("/v1/classify", json=body)
        embed = await client.post("/v1/embed", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if param is not None:
        assert error["param"].startswith(param)
    for word in words:
        assert word in error["message"]
    if "pooling" not in body:  # /v1/embed takes pooling
        assert embed.status_code == status
        assert embed.json()["error"] == error


async def test_truncate_cuts_long_sentences(tasks):
    async with serve_task(tasks, "tags", max_sentence_tokens=3) as (client, _):
        response = await client.post("/v1/tag", json={"inputs": "good " * 5, "truncate": True})
    assert response.status_code == 200, response.text
    item = response.json()["data"][0]
    assert item["truncated"] and len(item["tags"]) == len(item["tokens"]) == 3


async def test_the_served_task_shares_the_served_bilm_instead_of_a_second_copy(tasks):
    async with serve_task(tasks, "polarity") as (client, app):
        state = app.state.service
        assert state.task.model.elmo.bilm is state.embedder.model
        response = await client.post("/v1/classify", json={"inputs": [TEXT]})
    assert response.status_code == 200, response.text
    expected = load_task(tasks["polarity"]).predict([TEXT.split()])[0]["label"]
    assert response.json()["data"][0]["label"] == expected


async def test_a_task_of_another_base_model_fails_startup(tasks):
    async with serve_task(tasks, "elsewhere", ready=False) as (client, app):
        ready = await client.get("/ready")
        classify = await client.post("/v1/classify", json={"inputs": "good"})
    state = app.state.service
    assert not state.ready
    assert ready.status_code == 503 and ready.json()["status"] == "failed"
    assert classify.status_code == 503
    assert "does not match the served model" in state.load_error
    assert "SHA-256" in state.load_error and "'other'" not in state.load_error.split(":")[0]


async def test_an_unreadable_task_fails_startup(tasks, tmp_path):
    async with serving({"model_path": tasks["model"]}, ready=False, task=tmp_path / "missing") as (
        client,
        app,
    ):
        ready = await client.get("/ready")
    assert ready.json()["status"] == "failed"
    assert "task.json" in app.state.service.load_error


async def test_the_route_is_documented_only_when_configured(tasks):
    async with serve_task(tasks, "polarity") as (client, app):
        with_task = (await client.get("/openapi.json")).json()
        assert (await client.post("/v1/classify", json={"inputs": "good"})).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert "/v1/classify" in _route_paths(app)
    async with serving({"model_path": tasks["model"]}) as (client, app):
        assert "/v1/classify" not in _route_paths(app)
        without = (await client.get("/openapi.json")).json()
        plain = await client.post("/v1/classify", json={"inputs": "good"})
    assert "/v1/classify" in with_task["paths"] and "/v1/tag" not in with_task["paths"]
    assert "ClassifyResponse" in with_task["components"]["schemas"]
    responses = with_task["paths"]["/v1/classify"]["post"]["responses"]
    assert "422" not in responses and "400" in responses
    assert "/v1/classify" not in without["paths"] and "/v1/tag" not in without["paths"]
    assert plain.status_code == 404
    assert 'route="/v1/classify"' in metrics


def test_a_served_task_hashes_the_base_weights_once_and_predicts_as_load_task(tasks, monkeypatch):
    from elmo.tasks import bundle, load_task_for_model

    hashed: list[Path] = []
    real = bundle.sha256_file
    monkeypatch.setattr(bundle, "sha256_file", lambda path: hashed.append(path) or real(path))
    predictor = load_task_for_model(tasks["polarity"], tasks["model"])
    assert len(hashed) == 1
    sentences = [TEXT.split()]
    expected = load_task(tasks["polarity"]).predict(sentences)
    assert predictor.predict(sentences) == expected
