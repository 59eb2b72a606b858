"""Load benchmark of the REST service: throughput and latency over HTTP vs the library in process.

Starts ``elmo serve`` on a free port of 127.0.0.1 (or uses ``--url``), then for each sentence
length and concurrency sends one sentence of random lowercase words per request to the
OpenAI-compatible ``POST /v1/embeddings`` (base64, as the OpenAI client asks) from that many
concurrent keep-alive connections.  Prints a markdown table: requests/s, tokens/s and
p50/p95/p99 latency (medians over ``--repeats`` passes), and the ratio of HTTP tokens/s to the
tokens/s of an in-process ``Embedder`` doing the same work (tokenize, embed, average mix, mean
pooling) on the same sentences in its default batches of 64.  In-process and HTTP passes
alternate, so that on a shared machine both sample the same periods of load, and the ratio is
the median over the repeats of each HTTP pass against the in-process pass just before it.  Two
more columns explain the ratio: "model busy" (the server's model seconds over the wall time:
near 100%, the model never waits for HTTP) and the ratio to the library at the server's mean
batch size.  With whole batches (``--batches``), one sentence a request from 32 clients gives
batches of about 16, not 64; with continuous batching (the default on a CPU) "sentences/batch"
is the number of sentences running when new ones join, and "model busy" counts the time in
blocks of steps (joining and handing back sentences is not in it).

The client runs on the same machine and takes CPU from the server.  The default client is a
minimal asyncio HTTP/1.1 client (well under 1 ms of CPU a request); ``--client httpx`` uses
httpx's AsyncClient, which on a 2-CPU machine spent about 10 ms of CPU a request at 32
connections and so measured itself rather than the server.

    python benchmarks/bench_service.py                        # the reference model, 2 threads
    python benchmarks/bench_service.py --random-config small  # a random model of that size
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch

from elmo.inference.embedder import Embedder
from elmo.io.bundle import save_bundle

REPO = Path(__file__).resolve().parents[1]


def sentences(count: int, words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(
            "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(words)
        )
        for _ in range(count)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    model: str,
    threads: int,
    log: Path,
    in_thread: bool = False,
    batches: bool = False,
    settings: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str]:
    """``elmo serve`` on a free port; ``settings``: more ``ELMO_*`` variables."""
    port = free_port()
    env = {
        **os.environ,
        "ELMO_ACCESS_LOG": "false",
        "ELMO_LOG_LEVEL": "warning",
        "ELMO_TORCH_THREADS": str(threads),
        "ELMO_INFERENCE_PROCESS": "false" if in_thread else "true",
        "ELMO_CONTINUOUS_BATCHING": "false" if batches else "true",
        **(settings or {}),
    }
    command = [sys.executable, "-m", "elmo.cli", "serve", "--model", model, "--port", str(port)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"elmo serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("elmo serve did not become ready")


class RawClient:
    """One keep-alive HTTP/1.1 connection; just enough protocol for this server's answers."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes) -> int:
        await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def http_pass(
    url: str, texts: list[str], concurrency: int, client: str
) -> tuple[float, list[float]]:
    """Wall time and per-request latencies for one request per text."""
    bodies = [
        json.dumps({"input": t, "model": "default", "encoding_format": "base64"}).encode()
        for t in texts
    ]
    latencies: list[float] = []
    queue = list(reversed(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as shared:

        async def worker() -> None:
            parsed = httpx.URL(url)
            raw = RawClient(parsed.host, parsed.port or 80)
            try:
                while queue:
                    body = queue.pop()
                    started = time.perf_counter()
                    if client == "httpx":
                        response = await shared.post(
                            "/v1/embeddings", content=body, headers=headers
                        )
                        status = response.status_code
                    else:
                        status = await raw.post("/v1/embeddings", body)
                    latencies.append(time.perf_counter() - started)
                    if status != 200:
                        raise SystemExit(f"HTTP {status}")
            finally:
                await raw.close()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


def in_process_tokens_per_second(embedder: Embedder, texts: list[str], batch: int = 64) -> float:
    """One pass of the library doing the server's work, in its default batches of 64."""
    tokens = sum(len(t.split()) for t in texts)
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        embedder.embed(texts[i : i + batch], mix="average", sentence_pooling="mean")
    return tokens / (time.perf_counter() - started)


def batch_counters(url: str) -> tuple[float, float, float]:
    """(sentences, forward passes, model seconds) so far, from the server's metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    names = ("elmo_batch_sentences_sum", "elmo_batch_sentences_count", "elmo_inference_seconds_sum")
    values = []
    for name in names:
        line = next(x for x in text.splitlines() if x.startswith(name + " "))
        values.append(float(line.split()[1]))
    return values[0], values[1], values[2]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "tests" / "fixtures" / "elmo_reference"))
    parser.add_argument(
        "--random-config",
        choices=["small", "medium", "original"],
        help="serve a randomly initialised model of a published size instead of --model",
    )
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument(
        "--in-thread",
        action="store_true",
        help="run the model in a thread of the server's process (ELMO_INFERENCE_PROCESS=false)",
    )
    parser.add_argument(
        "--batches",
        action="store_true",
        help="whole batches instead of continuous batching (ELMO_CONTINUOUS_BATCHING=false)",
    )
    parser.add_argument("--url", help="benchmark a running server instead of starting one")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (server and here)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--words", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--requests", type=int, default=256, help="requests per pass")
    parser.add_argument("--repeats", type=int, default=3, help="passes; medians are shown")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    process = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_config:
            sys.path.insert(0, str(REPO / "benchmarks"))
            from bench_bilm import build

            torch.manual_seed(0)
            args.model = str(save_bundle(build(args.random_config, 3.0), Path(tmp) / "model"))
        embedder = Embedder.from_pretrained(args.model)
        if args.url:
            url = args.url
        else:
            process, url = start_server(
                args.model, args.threads, Path(tmp) / "server.log", args.in_thread, args.batches
            )
        try:
            info = httpx.get(f"{url}/info", timeout=10).json()
            name = f"random {args.random_config}" if args.random_config else info["model"]
            print(
                f"model {name} ({info['num_layers']} layers x {info['dim']}), "
                f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs, "
                f"{args.requests} requests per pass, median of {args.repeats} passes; "
                f"POST /v1/embeddings, one sentence a request, base64, {args.client} client, "
                f"model in {'a thread of the server' if args.in_thread else 'a child process'}, "
                f"{'continuous batching' if info.get('continuous_batching') else 'whole batches'}"
            )
            print()
            print(
                "| words | concurrency | requests/s | tokens/s | p50 ms | p95 ms | p99 ms "
                "| sentences/batch | model busy | in-process tokens/s | HTTP / in-process "
                "| HTTP / in-process at the server's batch size |"
            )
            print("| ---: " * 12 + "|")
            for words in args.words:
                texts = sentences(args.requests, words, seed=words)
                asyncio.run(http_pass(url, texts[:16], 4, args.client))  # warm-up
                embedder.embed(texts[:16])
                # In-process and HTTP passes alternate, so that both sample the same moments of
                # a shared machine's load; each row shows medians over the repeats.
                baselines: list[float] = []
                passes: dict[int, list[tuple[float, list[float]]]] = {
                    c: [] for c in args.concurrency
                }
                # per concurrency: sentences, forward passes, model seconds over all passes
                counted = {c: np.zeros(3) for c in args.concurrency}
                for _ in range(args.repeats):
                    baselines.append(in_process_tokens_per_second(embedder, texts))
                    for concurrency in args.concurrency:
                        before = np.array(batch_counters(url))
                        passes[concurrency].append(
                            asyncio.run(http_pass(url, texts, concurrency, args.client))
                        )
                        counted[concurrency] += np.array(batch_counters(url)) - before
                baseline = statistics.median(baselines)
                for concurrency in args.concurrency:
                    walls = [wall for wall, _ in passes[concurrency]]
                    ms = [
                        statistics.median(percentile(lat, q) for _, lat in passes[concurrency])
                        * 1e3
                        for q in (50, 95, 99)
                    ]
                    rps = len(texts) / statistics.median(walls)
                    tps = rps * words
                    # each HTTP pass against the in-process pass just before it: the machine's
                    # speed drifts by tens of percent over minutes, less between neighbours
                    ratio = statistics.median(
                        len(texts) * words / wall / base
                        for wall, base in zip(walls, baselines, strict=True)
                    )
                    done, batches, model_s = counted[concurrency]
                    per_batch = done / max(batches, 1)
                    # the library alone at the server's batch size: what is left of the ratio
                    # once batching is accounted for is the cost of HTTP itself
                    same = in_process_tokens_per_second(
                        embedder, texts[:64], max(1, round(per_batch))
                    )
                    print(
                        f"| {words} | {concurrency} | {rps:,.0f} | {tps:,.0f} "
                        f"| {ms[0]:.1f} | {ms[1]:.1f} | {ms[2]:.1f} | {per_batch:.1f} "
                        f"| {model_s / sum(walls):.0%} | {baseline:,.0f} | {ratio:.2f} "
                        f"| {tps / same:.2f} |",
                        flush=True,
                    )
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=60)


if __name__ == "__main__":
    main()
