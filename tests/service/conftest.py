"""Fixtures for the service: one shared reference model, the app in process (httpx over ASGI),
and real ``elmo serve`` processes on a free port of 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from elmo.inference.embedder import Embedder
from factories import ELMO_REFERENCE
from service.app import create_app
from service.core.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _one_torch_thread(_deterministic_torch: None) -> None:
    """The reference model is too small to gain from a second thread, and on a busy machine
    two threads wait for each other at every parallel region."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.from_pretrained(ELMO_REFERENCE)


@pytest.fixture
def serve_app(embedder: Embedder) -> Callable[..., Any]:
    """``async with serve_app(queue_size=4, ...) as (client, app)``: the app with its lifespan
    running and the model ready, and an httpx client talking ASGI to it."""

    @contextlib.asynccontextmanager
    async def serve(
        model: Embedder | None = None, **settings: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
        app = create_app(Settings(**settings), embedder=model or embedder)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                state = app.state.service
                for _ in range(500):
                    if state.ready or state.load_error:
                        break
                    await asyncio.sleep(0.01)
                assert state.ready, state.load_error
                yield client, app

    return serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A real ``elmo serve`` child process; its output goes to a log file (a pipe that
    nobody reads would block it)."""

    def __init__(self, log: Path, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "elmo.cli", "serve", "--model", str(ELMO_REFERENCE)]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        defaults = {"ELMO_ACCESS_LOG": "false", "ELMO_TORCH_THREADS": "1"}
        full_env = {**os.environ, **defaults, **env}
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"elmo serve exited early:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"elmo serve not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``start_server(ELMO_QUEUE_SIZE="4")`` → a ready server; always killed afterwards."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server-{len(started)}.log", env)
        started.append(server)
        server.wait_ready()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with default settings for a whole test module."""
    server = ServerProcess(tmp_path_factory.mktemp("server") / "server.log", {})
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()
