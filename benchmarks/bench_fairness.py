"""Fair scheduling benchmark: small requests' latency while one client sends the largest requests.

Starts ``elmo serve`` for each model and measures, over ``POST /v1/embeddings`` (base64),
the latency of ``--small-clients`` closed-loop clients that each send one sentence of
``--small-words`` random words a request: first alone, then while one more client sends, in a
loop, requests of ``--big-inputs`` sentences whose units are just under the server's
``max_sentence_tokens`` (counted with the model's own tokenizer).  Such a request holds about a
hundred times the work of all the small clients' requests together, so a server that serves
sentences first come first served makes the small clients wait for most of it.

The server runs with ``max_request_tokens`` raised to admit the big requests (its default
refuses them) and ``timeout_s`` raised so that they finish (``--timeout-s``); everything else
is the default.  Prints a markdown table: per model, the small clients' p50/p99 alone and beside
the big client, the ratio of the two p99s, and what the big client got done meanwhile.

    python benchmarks/bench_fairness.py                      # the reference model, models/default
    python benchmarks/bench_fairness.py --model models/default --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import string
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from bench_service import RawClient, percentile, sentences, start_server

from elmo.inference.embedder import Embedder
from service.api.inputs import prepare_inputs

REPO = Path(__file__).resolve().parents[1]


def units(embedder: Embedder, texts: list[str]) -> list[int]:
    """Units of each text as the server counts them."""
    prepared = prepare_inputs(
        embedder, texts, max_inputs=len(texts), max_sentence_tokens=10**9, truncate=False
    )
    return [s.prepared.num_units for s in prepared]


def long_sentences(embedder: Embedder, count: int, max_units: int, seed: int) -> list[str]:
    """``count`` texts of random words, each as many words as fit in ``max_units`` units."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = [
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10)))
            for _ in range(max_units)
        ]
        lo, hi = 1, len(words)  # the most words whose units fit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if units(embedder, [" ".join(words[:mid])])[0] <= max_units:
                lo = mid
            else:
                hi = mid - 1
        texts.append(" ".join(words[:lo]))
    return texts


def body(inputs: str | list[str]) -> bytes:
    return json.dumps({"input": inputs, "model": "default", "encoding_format": "base64"}).encode()


async def small_clients(
    url: str, texts: list[str], clients: int, seconds: float
) -> tuple[list[float], int]:
    """Latencies of ``clients`` closed-loop clients over ``seconds``; and how many failed."""
    parsed = httpx.URL(url)
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal failures
        raw = RawClient(parsed.host, parsed.port or 80)
        try:
            i = index
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = await raw.post("/v1/embeddings", body(texts[i % len(texts)]))
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1
                i += clients
        finally:
            await raw.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, failures


async def beside_big(
    url: str, small: list[str], clients: int, seconds: float, big: bytes, big_units: int
) -> tuple[list[float], int, dict[int, int], float]:
    """The small clients' run while one client sends ``big`` in a loop: small latencies and
    failures, the big client's answers by status, and its units per second."""
    parsed = httpx.URL(url)
    statuses: dict[int, int] = {}
    stop = asyncio.Event()
    done_units = 0

    async def big_client() -> None:
        nonlocal done_units
        raw = RawClient(parsed.host, parsed.port or 80)
        try:
            while not stop.is_set():
                status = await raw.post("/v1/embeddings", big)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    done_units += big_units
        finally:
            await raw.close()

    task = asyncio.create_task(big_client())
    await asyncio.sleep(2.0)  # the big request is parsed and its sentences fill the model
    started = time.perf_counter()
    latencies, failures = await small_clients(url, small, clients, seconds)
    wall = time.perf_counter() - started
    stop.set()
    task.cancel()  # a request in flight is dropped; the server cancels it
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await task
    return latencies, failures, statuses, done_units / wall


async def flood(
    url: str, clients: int, texts: list[str]
) -> tuple[list[tuple[int, float]], int, float]:
    """``clients`` connections, opened first, then each sends one request of ``texts`` at
    once: (status, seconds from sending) of each; then one request of ``texts[:1]``: its status
    and seconds."""
    parsed = httpx.URL(url)
    go = asyncio.Event()

    async def one(inputs: list[str], wait: bool) -> tuple[int, float]:
        raw = RawClient(parsed.host, parsed.port or 80)
        try:
            await raw.connect()
            if wait:
                await go.wait()
            started = time.perf_counter()
            try:
                status = await raw.post("/v1/embeddings", body(inputs))
            except (ConnectionError, asyncio.IncompleteReadError):
                status = 0  # the connection was dropped: counted apart from any HTTP status
            return status, time.perf_counter() - started
        finally:
            await raw.close()

    async def together() -> list[tuple[int, float]]:
        tasks = [asyncio.create_task(one(texts, True)) for _ in range(clients)]
        await asyncio.sleep(1.0)  # every connection open
        go.set()
        return list(await asyncio.gather(*tasks))

    answers = await together()
    status, seconds = await one(texts[:1], False)
    return answers, status, seconds


def flood_table(models: list[str], threads: int, clients: int, queue_size: int) -> None:
    print()
    print(
        f"Overload: {clients} connections, then each sends one request of 4 sentences of "
        f"50 words at once (latency from sending), queue_size={queue_size}; then one request "
        "of one sentence."
    )
    print()
    print(
        "| model | 200 | 429 | 5xx | other | 429 p50 ms | 429 p99 ms | 200 p50 ms | next request |"
    )
    print("| --- " + "| ---: " * 8 + "|")
    for model in models:
        with tempfile.TemporaryDirectory() as tmp:
            process, url = start_server(
                model,
                threads,
                Path(tmp) / "server.log",
                settings={"ELMO_QUEUE_SIZE": str(queue_size), "ELMO_MAX_INPUTS": "4"},
            )
            try:
                texts = sentences(4, 50, seed=3)
                answers, status, seconds = asyncio.run(flood(url, clients, texts))
            finally:
                process.terminate()
                process.wait(timeout=120)
        by_status: dict[int, list[float]] = {}
        for code, took in answers:
            by_status.setdefault(code, []).append(took)
        refused = by_status.get(429, [])
        ok = by_status.get(200, [])
        errors = sum(len(v) for code, v in by_status.items() if code >= 500)
        other = len(answers) - len(ok) - len(refused) - errors
        ms = lambda values, q: f"{percentile(values, q) * 1e3:.1f}" if values else "-"  # noqa: E731
        print(
            f"| {Path(model).name} | {len(ok)} | {len(refused)} | {errors} | {other} "
            f"| {ms(refused, 50)} | {ms(refused, 99)} | {ms(ok, 50)} "
            f"| {status} in {seconds * 1e3:.0f} ms |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        nargs="+",
        default=[str(REPO / "tests" / "fixtures" / "elmo_reference"), "models/default"],
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    parser.add_argument("--small-clients", type=int, default=8)
    parser.add_argument("--small-words", type=int, default=10)
    parser.add_argument("--big-inputs", type=int, default=256)
    parser.add_argument(
        "--margin", type=int, default=8, help="big sentences: units under max_sentence_tokens"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="per measurement")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="the server's timeout_s")
    parser.add_argument("--flood-clients", type=int, default=200)
    parser.add_argument("--flood-queue-size", type=int, default=8)
    parser.add_argument("--no-fairness", action="store_true", help="only the overload table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, server with {args.threads} torch threads; "
        f"{args.small_clients} clients of one {args.small_words}-word sentence a request, "
        f"{args.seconds:.0f} s each; big client: {args.big_inputs} sentences a request"
    )
    if not args.no_fairness:
        fairness_table(args)
    flood_table(args.model, args.threads, args.flood_clients, args.flood_queue_size)


def fairness_table(args: argparse.Namespace) -> None:
    print()
    print(
        "| model | small p50 ms alone | small p99 ms alone | small p50 ms beside big "
        "| small p99 ms beside big | p99 ratio | small failures | big units/request "
        "| big answers | big units/s |"
    )
    print("| --- " + "| ---: " * 9 + "|")
    for model in args.model:
        embedder = Embedder.from_pretrained(model)
        with tempfile.TemporaryDirectory() as tmp:
            probe, url = start_server(model, args.threads, Path(tmp) / "probe.log")
            try:
                limits = httpx.get(f"{url}/info", timeout=10).json()["limits"]
            finally:
                probe.terminate()
                probe.wait(timeout=60)
            max_units = limits["max_sentence_tokens"] - args.margin
            big_texts = long_sentences(embedder, args.big_inputs, max_units, seed=1)
            big_units = sum(units(embedder, big_texts))
            settings = {
                "ELMO_MAX_REQUEST_TOKENS": str(max(big_units, limits["max_request_tokens"])),
                "ELMO_TIMEOUT_S": str(args.timeout_s),
            }
            process, url = start_server(
                model, args.threads, Path(tmp) / "server.log", settings=settings
            )
            try:
                small = sentences(512, args.small_words, seed=args.small_words)
                asyncio.run(small_clients(url, small, args.small_clients, 2.0))  # warm-up
                alone, failed_alone = asyncio.run(
                    small_clients(url, small, args.small_clients, args.seconds)
                )
                beside, failed_beside, statuses, big_rate = asyncio.run(
                    beside_big(
                        url, small, args.small_clients, args.seconds, body(big_texts), big_units
                    )
                )
            finally:
                process.terminate()
                process.wait(timeout=120)
        a50, a99 = (percentile(alone, q) * 1e3 for q in (50, 99))
        b50, b99 = (percentile(beside, q) * 1e3 for q in (50, 99))
        answers = ", ".join(f"{n} x {code}" for code, n in sorted(statuses.items())) or "none yet"
        print(
            f"| {Path(model).name} | {a50:.1f} | {a99:.1f} | {b50:.1f} | {b99:.1f} "
            f"| {b99 / a99:.2f} | {failed_alone + failed_beside} | {big_units:,} | {answers} "
            f"| {big_rate:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
