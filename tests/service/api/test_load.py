"""Batching under load, in process: answers never depend on what else is in flight; a full
queue, a timeout and a client that leaves are handled without losing the server."""

import asyncio
import base64
import json
import random
import threading

import numpy as np
import pytest

from factories import random_sentences

pytestmark = pytest.mark.anyio


def vectors(body: dict) -> list[np.ndarray]:
    return [
        np.frombuffer(base64.b64decode(item["embeddings"]["data"]), "<f4").reshape(
            item["embeddings"]["shape"]
        )
        for item in body["data"]
    ]


class Gate:
    """Holds the scheduler's worker inside its first hand-over to the model (a forward pass,
    or sentences joining the running batch) until opened, so that a test controls what is
    queued behind it; records every hand-over's sentence count."""

    def __init__(self, monkeypatch, app):
        self.open_event = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []
        engine = app.state.service.scheduler.engine
        run = engine.add

        def gated(work):
            self.batches.append(len(work))
            self.entered.set()
            assert self.open_event.wait(30), "gate never opened"
            return run(work)

        monkeypatch.setattr(engine, "add", gated)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 30)

    def open(self) -> None:
        self.open_event.set()


async def wait_until(condition, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_sentence_is_identical_alone_among_50_others_and_under_concurrent_load(serve_app):
    rng = random.Random(5)
    target = "El gato come pescado en la cocina ."
    others = [" ".join(s) for s in random_sentences(50, 40, seed=6)]
    request = {"encoding_format": "base64"}
    async with serve_app(max_batch_sentences=16, max_batch_tokens=600) as (client, _):
        alone = vectors(
            (await client.post("/v1/embed", json={"inputs": [target], **request})).json()
        )[0]
        mixed = [*others[:20], target, *others[20:]]
        among = vectors((await client.post("/v1/embed", json={"inputs": mixed, **request})).json())
        np.testing.assert_array_equal(among[20], alone)

        async def other_client(k: int) -> None:
            for _ in range(5):
                batch = rng.sample(others, rng.randint(1, 8))
                response = await client.post("/v1/embed", json={"inputs": batch, **request})
                assert response.status_code == 200

        async def target_client() -> list[np.ndarray]:
            found = []
            for _ in range(10):
                batch = [*rng.sample(others, rng.randint(0, 3)), target]
                body = (await client.post("/v1/embed", json={"inputs": batch, **request})).json()
                found.append(vectors(body)[-1])
            return found

        results = await asyncio.gather(target_client(), *(other_client(k) for k in range(16)))
    for under_load in results[0]:
        np.testing.assert_array_equal(under_load, alone)


async def test_a_request_that_cannot_fit_the_queue_is_refused_before_it_is_tokenized(
    serve_app, monkeypatch
):
    import service.api.flow

    async with serve_app(queue_size=2, max_inputs=2, max_batch_sentences=1) as (client, app):
        gate = Gate(monkeypatch, app)
        first = asyncio.create_task(client.post("/v1/embed", json={"inputs": ["held"]}))
        await gate.wait_entered()
        queued = asyncio.create_task(client.post("/v1/embed", json={"inputs": ["a", "b"]}))
        await wait_until(lambda: app.state.service.scheduler.depth == 2)  # the queue is full
        tokenized = []
        real = service.api.flow.prepare_inputs

        def spy(embedder, inputs, **kwargs):
            tokenized.append(inputs)
            return real(embedder, inputs, **kwargs)

        monkeypatch.setattr(service.api.flow, "prepare_inputs", spy)
        refused = await client.post("/v1/embed", json={"inputs": "one more"})
        openai = await client.post("/v1/embeddings", json={"input": ["x", "y"]})
        gate.open()
        await first, await queued
    assert refused.status_code == 429 and openai.status_code == 429
    assert "2 sentences are waiting and this request adds 1" in refused.json()["error"]["message"]
    assert tokenized == []  # refused from the queue's depth alone


async def test_a_flood_on_a_tiny_queue_gets_429s_no_5xx_and_the_server_recovers(
    serve_app, monkeypatch
):
    async with serve_app(queue_size=4, max_inputs=2, max_batch_sentences=2) as (client, app):
        gate = Gate(monkeypatch, app)
        first = asyncio.create_task(client.post("/v1/embed", json={"inputs": ["a b", "c"]}))
        await gate.wait_entered()  # the worker holds the first request; the queue is empty
        flood = [
            asyncio.create_task(client.post("/v1/embed", json={"inputs": [f"w{i}", "x y"]}))
            for i in range(30)
        ]
        await wait_until(lambda: sum(t.done() for t in flood) >= 28)
        gate.open()
        responses = [await first, *await asyncio.gather(*flood)]
        after = await client.post("/v1/embed", json={"inputs": ["fine", "again"]})
        metrics = (await client.get("/metrics")).text
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 3 and statuses.count(429) == 28  # 2 + 2 sentences fit
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "queue_full"
    assert "queue_size is 4" in refused.json()["error"]["message"]
    assert after.status_code == 200
    assert 'elmo_rejected_requests_total{reason="queue_full"} 28.0' in metrics


async def test_a_request_over_its_timeout_gets_a_json_error_and_its_work_is_dropped(
    serve_app, monkeypatch
):
    async with serve_app(timeout_s=0.3) as (client, app):
        gate = Gate(monkeypatch, app)
        slow = asyncio.create_task(client.post("/v1/embed", json={"inputs": ["a"]}))
        await gate.wait_entered()
        queued = await client.post("/v1/embed", json={"inputs": ["b c", "d"]})
        assert app.state.service.scheduler.depth == 0  # the timed-out sentences left the queue
        gate.open()
        held = await slow
    for response in (queued, held):
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "timeout" and "timeout_s=0.3" in error["message"]
    assert gate.batches == [1]


async def test_a_client_that_disconnects_has_its_pending_work_dropped(serve_app, monkeypatch):
    async with serve_app() as (client, app):
        gate = Gate(monkeypatch, app)
        blocker = asyncio.create_task(client.post("/v1/embed", json={"inputs": ["a"]}))
        await gate.wait_entered()
        body = json.dumps({"inputs": ["b c", "d e f", "g"]}).encode()
        left = asyncio.Event()
        sent: list[dict] = []
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/embed",
            "raw_path": b"/v1/embed",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"test"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("test", 80),
        }
        request = asyncio.create_task(app(scope, receive, send))
        scheduler = app.state.service.scheduler
        await wait_until(lambda: scheduler.depth == 3)
        left.set()
        await asyncio.wait_for(request, 30)
        assert scheduler.depth == 0
        gate.open()
        assert (await blocker).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert gate.batches == [1]  # the departed client's three sentences never ran
    assert 'elmo_rejected_requests_total{reason="disconnected"} 1.0' in metrics
