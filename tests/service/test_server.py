"""Against real ``elmo serve`` processes on 127.0.0.1: the OpenAI client, concurrent clients,
a flood on a tiny queue, and SIGTERM in the middle of load."""

import asyncio
import base64
import os
import re
import signal
import socket
import time
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from factories import random_sentences

pytestmark = pytest.mark.anyio

TEXTS = ["El gato come pescado.", "Para cambiar la rueda, levanté el auto con el gato."]


def pooled(body: dict) -> list[np.ndarray]:
    return [np.frombuffer(base64.b64decode(d["embeddings"]["data"]), "<f4") for d in body["data"]]


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def model_processes(pid: int) -> list[int]:
    """Children of ``pid`` started by multiprocessing's spawn (not its resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def native_mean_vectors(url: str, texts: list[str]) -> list[np.ndarray]:
    body = {
        "inputs": texts,
        "mix": "average",
        "pooling": "mean",
        "normalize": True,
        "encoding_format": "base64",
    }
    return pooled(httpx.post(f"{url}/v1/embed", json=body, timeout=30).json())


def test_the_openai_client_gets_the_native_routes_pooled_vectors(shared_server):
    client = openai.OpenAI(base_url=f"{shared_server.url}/v1", api_key="unused", max_retries=0)
    by_default = client.embeddings.create(model="default", input=TEXTS)  # asks for base64
    as_floats = client.embeddings.create(
        model="elmo_reference", input=TEXTS, encoding_format="float"
    )
    single = client.embeddings.create(model="default", input=TEXTS[0])
    expected = native_mean_vectors(shared_server.url, TEXTS)
    for response in (by_default, as_floats):
        assert response.model == "elmo_reference" and len(response.data) == 2
        assert response.usage.prompt_tokens == response.usage.total_tokens == 5 + 12
        for item, want in zip(response.data, expected, strict=True):
            np.testing.assert_array_equal(np.asarray(item.embedding, dtype=np.float32), want)
    np.testing.assert_array_equal(np.asarray(single.data[0].embedding, np.float32), expected[0])
    client.close()


def test_the_openai_client_sees_errors_in_its_envelope(shared_server):
    client = openai.OpenAI(base_url=f"{shared_server.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="text-embedding-3-small", input="hola")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError, match="token-id arrays are not supported"):
        client.embeddings.create(model="default", input=[[1, 2, 3]])
    client.close()


async def test_32_concurrent_clients_of_20_requests_all_get_their_own_right_answer(
    shared_server, embedder
):
    texts = [" ".join(s) for s in random_sentences(40, 12, seed=11)]
    expected = {
        t: e.sentence
        for t, e in zip(texts, embedder.embed(texts, sentence_pooling="mean"), strict=True)
    }
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=shared_server.url, limits=limits, timeout=60) as client:

        async def one_client(k: int) -> list[tuple[str, httpx.Response]]:
            done = []
            for i in range(20):
                text = texts[(k * 7 + i) % len(texts)]
                body = {"inputs": [text], "pooling": "mean", "encoding_format": "base64"}
                done.append((text, await client.post("/v1/embed", json=body)))
            return done

        results = await asyncio.gather(*(one_client(k) for k in range(32)))
    answers = [pair for client_results in results for pair in client_results]
    assert len(answers) == 640
    assert all(r.status_code == 200 for _, r in answers)
    for text, response in answers:
        got = pooled(response.json())[0].reshape(3, 32)
        np.testing.assert_allclose(got, expected[text], rtol=0, atol=1e-6)


async def test_a_flood_on_a_tiny_queue_gets_429_and_no_5xx_then_normal_service(start_server):
    server = start_server(ELMO_QUEUE_SIZE="2", ELMO_MAX_INPUTS="2", ELMO_MAX_BATCH_SENTENCES="2")
    long_text = " ".join(random_sentences(1, 150, seed=3, min_words=150)[0])
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        flood = await asyncio.gather(
            *(client.post("/v1/embed", json={"inputs": [long_text, "x"]}) for _ in range(48))
        )
        statuses = [r.status_code for r in flood]
        after = await client.post("/v1/embed", json={"inputs": ["all", "good"]})
        ready = await client.get("/ready")
    assert set(statuses) <= {200, 429} and statuses.count(429) > 0 and statuses.count(200) > 0
    refused = flood[statuses.index(429)]
    assert refused.headers["retry-after"] == "1" and refused.json()["error"]["code"] == "queue_full"
    assert after.status_code == 200 and ready.status_code == 200


async def test_sigterm_during_load_finishes_every_in_flight_request_and_exits_0(start_server):
    server = start_server(ELMO_DRAIN_S="0.5", ELMO_MAX_BATCH_TOKENS="512")
    model_process = model_processes(server.process.pid)
    assert len(model_process) == 1
    texts = [" ".join(s) for s in random_sentences(24, 40, seed=8, min_words=30)]
    count = 8
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
        requests = [
            asyncio.create_task(client.post("/v1/embed", json={"inputs": texts, "mix": "top"}))
            for _ in range(count)
        ]
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as probe:
            for _ in range(3000):  # until the server has accepted every request
                text = (await probe.get("/metrics")).text
                finished = metric(text, 'elmo_http_requests_total{route="/v1/embed",status="200"}')
                in_flight = metric(text, "elmo_http_requests_in_flight") - 1  # minus this probe
                if finished + in_flight >= count:
                    break
                await asyncio.sleep(0.005)
            assert in_flight > 0, "the requests finished before SIGTERM; make them longer"
            server.terminate()
            draining = await probe.get("/ready")
        responses = await asyncio.gather(*requests)
    assert draining.status_code == 503 and draining.json() == {"status": "draining"}
    assert [r.status_code for r in responses] == [200] * count
    assert all(len(r.json()["data"]) == len(texts) for r in responses)
    deadline = time.monotonic() + 60
    while server.process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert server.process.returncode == 0, server.output()
    assert "signal 15" in server.output()
    for pid in model_process:  # the model's process ended with the server
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_a_killed_model_process_fails_only_the_request_it_was_running_and_is_replaced(
    start_server,
):
    server = start_server()
    info = httpx.get(f"{server.url}/info", timeout=10).json()
    assert info["inference_process"] is True and info["continuous_batching"] is True
    (model_process,) = model_processes(server.process.pid)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        os.kill(model_process, signal.SIGSTOP)  # the request stays in the model's hands
        running = asyncio.create_task(client.post("/v1/embed", json={"inputs": "hola"}))
        await asyncio.sleep(0.5)
        os.kill(model_process, signal.SIGKILL)
        failed = await running
        started = time.monotonic()
        during = await client.post("/v1/embed", json={"inputs": "hola"})  # while it restarts
        refused_in = time.monotonic() - started
        seen = await _ready_statuses(client)
        after = await client.post("/v1/embed", json={"inputs": "hola"})
        replaced = model_processes(server.process.pid)
        os.kill(replaced[0], signal.SIGKILL)  # idle: nobody's request is lost
        seen_idle = await _ready_statuses(client)
        again = await client.post("/v1/embed", json={"inputs": "hola"})
    assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
    assert failed.json()["error"]["code"] == "inference_restarted"
    assert during.status_code == 503 and refused_in < 2.0, during.text
    assert during.json()["error"]["code"] == "inference_unavailable"
    assert int(during.headers["retry-after"]) >= 1
    for statuses in (seen, seen_idle):
        assert (503, "restarting", "5") in statuses and statuses[-1] == (200, "ready", None)
    assert after.status_code == 200 and again.status_code == 200
    assert replaced not in ([], [model_process])
    assert model_processes(server.process.pid) not in ([], replaced)


async def _ready_statuses(client: httpx.AsyncClient) -> list[tuple[int, str, str | None]]:
    """``/ready``'s answers (status, body, Retry-After), polled until it has said something
    other than ready and then ready again (a killed child is noticed within milliseconds)."""
    seen: list[tuple[int, str, str | None]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = await client.get("/ready")
        answer = (response.status_code, response.json()["status"],
                  response.headers.get("retry-after"))  # fmt: skip
        if not seen or seen[-1] != answer:
            seen.append(answer)
        if response.status_code == 200 and any(code != 200 for code, _, _ in seen):
            break
        await asyncio.sleep(0.01)
    return seen


def _idle_connection_closed_after(server, seconds: float) -> bool:
    """Whether the server has closed a keep-alive connection that stayed idle ``seconds``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        # The whole response first: its head and body may come in separate segments, and a
        # body byte read after the wait would look like an open connection.
        response = b""
        while b"\r\n\r\n" not in response:
            response += conn.recv(4096)
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += conn.recv(4096)
        time.sleep(seconds)
        conn.settimeout(0.5)
        try:
            return conn.recv(1) == b""  # EOF: closed by the server
        except TimeoutError:
            return False  # still open


def test_idle_keep_alive_connections_stay_open_as_long_as_keep_alive_s(start_server, shared_server):
    assert not _idle_connection_closed_after(shared_server, 6)  # past uvicorn's own 5 s
    short = start_server(ELMO_KEEP_ALIVE_S="1")
    assert _idle_connection_closed_after(short, 2.5)
