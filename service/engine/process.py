"""The model in a child process, so that inference never waits for the event loop's Python.

PyTorch releases the GIL inside each operation but needs it between them, and the biLM's step
loop runs a dozen small operations per time step.  In the server's own process every request
that the event loop parses, validates or renders holds the GIL meanwhile, and the model waits
(BENCHMARKS.md measures the difference).  So ``elmo serve`` runs the model in a child process
by default; batched, the scheduler's worker thread sends it each batch and blocks on the pipe
(no GIL held) until the answers come back, each already shaped as its request wants it.

With ``streaming`` (continuous batching, :mod:`service.engine.streaming`) the child runs a
:class:`elmo.inference.streaming.StreamingBiLM` instead: :meth:`InferenceProcess.add` sends
sentences as they come, and a reader thread here hands the finished ones to the scheduler.

The child is started with ``spawn`` (forking a process that already runs threads is unsafe),
ignores SIGINT/SIGTERM (the server decides when it stops, after draining), and exits when asked
or when its pipe closes.  If it dies anyway, the sentences it was running fail with a 503 that
asks the client to retry, and a new child is started (while streaming, at once, even when no
sentence was in it).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from service.engine.child import child_main
from service.engine.interface import (
    Add,
    Deliver,
    Drop,
    EngineUnavailable,
    Fail,
    FromEngine,
    LoadFailed,
    Ready,
    Stop,
    Work,
    deliver_message,
)
from service.engine.streaming import DEFAULT_MAX_UNITS

__all__ = ["RESTART_RETRY_AFTER_S", "InferenceProcess", "unavailable"]

# Seconds a client is told to wait while the model's process is replaced (a restart loads and
# warms the model again: seconds for models/default, longer for large models).
RESTART_RETRY_AFTER_S = 5

logger = logging.getLogger("service.engine.process")


class InferenceProcess:
    """An :class:`~service.engine.interface.Engine` whose model runs in a child process.

    Args:
        model_path: the bundle the child loads.
        batch_size: sentences per forward pass in the child.
        device: where the child runs the model.
        torch_threads: the child's intra-op threads (None: PyTorch's default).
        start_timeout_s: how long loading and warming the model may take.
        streaming: continuous batching in the child (else one batch an :meth:`add`).
        shared_rows: the streaming engine's rows for small requests beside large ones.
        token_cache_units: the distinct units whose layer-0 vectors the child keeps.
    """

    def __init__(
        self,
        model_path: Path,
        batch_size: int,
        device: str,
        torch_threads: int | None = None,
        start_timeout_s: float = 600.0,
        streaming: bool = False,
        shared_rows: int | None = None,
        stop_timeout_s: float = 30.0,
        token_cache_units: int = DEFAULT_MAX_UNITS,
    ) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device
        self.torch_threads = torch_threads
        self.start_timeout_s = start_timeout_s
        self.streaming = streaming
        self.shared_rows = shared_rows
        self.stop_timeout_s = stop_timeout_s
        self.token_cache_units = token_cache_units
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._stopped = False
        self._deliver: Deliver | None = None
        self._fail: Fail | None = None
        self._restarting = False
        self.restarts = 0

    @property
    def continuous(self) -> bool:
        return self.streaming

    @property
    def available(self) -> bool:
        """Whether work sent now would be taken at once: False while the child is being
        replaced (loading a model takes seconds), so that requests and readiness probes get a
        quick 503 instead of waiting for it."""
        return not self._restarting and not self._stopped

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the child and wait until its model is loaded and warm (raises if it fails)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        process = context.Process(
            target=child_main,
            args=(
                child,
                str(self.model_path),
                self.batch_size,
                self.device,
                self.torch_threads,
                self.streaming,
                self.shared_rows,
                self.token_cache_units,
            ),
            name="elmo-inference",
            daemon=True,
        )
        process.start()
        child.close()  # the parent keeps only its end: the child's exit then reads as EOF
        self._process, self._conn = process, parent
        deadline = time.monotonic() + self.start_timeout_s
        while not parent.poll(0.2):
            if not process.is_alive():
                raise RuntimeError(f"the inference process exited with code {process.exitcode}")
            if time.monotonic() > deadline:
                self._kill()
                raise RuntimeError(
                    f"the inference process was not ready in {self.start_timeout_s} s"
                )
        try:
            status = parent.recv()
        except (EOFError, OSError) as exc:
            self._kill()
            raise RuntimeError("the inference process exited while loading the model") from exc
        if not isinstance(status, Ready):
            self._kill()
            why = status.reason if isinstance(status, LoadFailed) else repr(status)
            raise RuntimeError(f"the inference process could not load the model: {why}")
        logger.info("inference process %d ready", process.pid)
        if self.streaming and self._deliver is not None:
            self._start_reader()

    def open(self, deliver: Deliver, fail: Fail) -> None:
        """Hand finished sentences to ``deliver`` from now on (streaming: from a reader
        thread; batched: from :meth:`add`)."""
        with self._lock:
            self._deliver, self._fail = deliver, fail
            if self.streaming and self._conn is not None:
                self._start_reader()

    def add(self, work: Sequence[Work]) -> None:
        """Send sentences to the child; they come back through ``deliver`` (shaped in the
        child), or through ``fail`` if the child dies first.  Batched, this waits for them."""
        message = Add.of(work)
        self._check_available()
        with self._lock:
            conn = self._connection()
            try:
                conn.send(message)
                if self.streaming:  # the reader fails what was in flight if it dies
                    return
                answer: FromEngine = conn.recv()
            except (EOFError, OSError):
                if self.streaming:
                    raise _restarted() from None
                logger.error("the inference process died (%s); restarting it", self._exit_status())
                self._restart()
                raise _restarted() from None
        assert self._deliver is not None and self._fail is not None, "open the engine first"
        deliver_message(answer, self._deliver, self._fail)

    def drop(self, keys: Sequence[int]) -> None:
        """Stop running these sentences (their requests are gone; batched: none runs)."""
        if not self.streaming:
            return
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):  # a dead child has dropped them already
                    self._conn.send(Drop(list(keys)))

    def close(self) -> None:
        """The scheduler is done with the engine: the child finishes and exits."""
        self.stop(self.stop_timeout_s)

    def _start_reader(self) -> None:
        conn = self._conn
        threading.Thread(
            target=self._read, args=(conn,), name="elmo-inference-reader", daemon=True
        ).start()

    def _read(self, conn: Connection) -> None:
        """Hand the child's messages to the scheduler until its pipe closes; then, unless
        stopping, fail what was in flight and start a new child."""
        assert self._deliver is not None and self._fail is not None
        while True:
            try:
                message: FromEngine = conn.recv()
            except (EOFError, OSError):
                break
            deliver_message(message, self._deliver, self._fail)
        with self._lock:
            if self._stopped or self._conn is not conn:
                return
            logger.error("the inference process died (%s); restarting it", self._exit_status())
            self._restarting = True  # before the senders hear: what they send next is refused
            self._fail(None, _restarted())
            self._restart()

    def _connection(self) -> Connection:
        """The child's pipe; restarts a child whose earlier restart failed (call locked)."""
        if self._conn is None and not self._stopped:
            self._restart()
        if self._conn is None:
            raise EngineUnavailable(
                "the model's process is not running; retry the request",
                code="inference_unavailable",
                retry_after_s=1,
            )
        return self._conn

    def _check_available(self) -> None:
        if not self.available:
            raise unavailable()

    def _exit_status(self) -> str:
        """How the child ended, once it has (its exit code is unknown until it is reaped)."""
        if self._process is None:
            return "no process"
        self._process.join(2)
        code = self._process.exitcode
        if code is None:
            return "still running, its pipe closed"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def _restart(self) -> None:
        self._restarting = True
        try:
            self._kill()
            self.restarts += 1
            self._start()
        except Exception:  # the next add tries again (_connection)
            logger.exception("the inference process could not be restarted")
        finally:
            self._restarting = False

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the child to exit; kill it if it has not within ``timeout`` seconds."""
        with self._lock:
            self._stopped = True
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(Stop())
            if self._process is not None:
                self._process.join(timeout)
            self._kill()

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None


def unavailable() -> EngineUnavailable:
    """What work that arrives while the model's process is being replaced is told."""
    return EngineUnavailable(
        "the model's process is restarting; retry shortly",
        code="inference_unavailable",
        retry_after_s=RESTART_RETRY_AFTER_S,
    )


def _restarted() -> EngineUnavailable:
    return EngineUnavailable(
        "the model's process stopped unexpectedly and was restarted; retry the request",
        code="inference_restarted",
        retry_after_s=1,
    )
