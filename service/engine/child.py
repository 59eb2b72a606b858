"""The model's child process: load the model, say it is ready, then answer until told to stop.

:class:`service.engine.process.InferenceProcess` starts :func:`child_main` with ``spawn``.
Batched, the child answers each :class:`~service.engine.interface.Add` with one forward pass
(:func:`service.engine.batches.run_batch`); streaming, it runs
:func:`service.engine.streaming.serve_stream` with the pipe's reads and writes in threads of
their own (:func:`stream_in_child`).
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from multiprocessing.connection import Connection

from elmo import Embedder, StreamingBiLM
from service.engine.batches import run_batch
from service.engine.interface import (
    Add,
    FromEngine,
    LoadFailed,
    Ready,
    Stop,
    ToEngine,
    reason,
)
from service.engine.streaming import DEFAULT_MAX_UNITS, make_engine, serve_stream

__all__ = ["child_main", "stream_in_child"]

logger = logging.getLogger("service.engine.child")


def child_main(
    conn: Connection,
    model_path: str,
    batch_size: int,
    device: str,
    threads: int | None,
    streaming: bool,
    shared_rows: int | None = None,
    token_cache_units: int = DEFAULT_MAX_UNITS,
) -> None:
    """The child: load the model, say ready, then answer batches until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the parent drains first, then stops us
    try:
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        embedder = Embedder.from_pretrained(
            model_path, batch_size, device, token_cache=token_cache_units
        )
        embedder.warm_up()
        # ready means warm: the streaming engine has encoded the vocabulary (0.6 s by default)
        engine = (
            make_engine(embedder.model, embedder.unit_char_ids, shared_rows, token_cache_units)
            if streaming
            else None
        )
    except Exception as exc:
        conn.send(LoadFailed(reason(exc)))
        return
    conn.send(Ready())
    if engine is not None:
        stream_in_child(conn, embedder, engine)
        return
    while True:
        try:
            message: ToEngine = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        if isinstance(message, Stop):
            return
        if isinstance(message, Add):
            conn.send(run_batch(embedder, message.entries))


def stream_in_child(conn: Connection, embedder: Embedder, engine: StreamingBiLM) -> None:
    """Continuous batching with the pipe's reads and writes in two threads of their own.

    The model's thread is the server's bottleneck.  Pickling a finished sentence's vectors
    (hundreds of KB for 50 words) and writing them through a 64 KB pipe, which blocks until the
    server's reader thread has drained it, took 3-5% of its time; in threads they overlap the
    next block (PyTorch releases the GIL inside each operation).
    """
    inbox: queue.SimpleQueue[ToEngine] = queue.SimpleQueue()
    outbox: queue.SimpleQueue[FromEngine | None] = queue.SimpleQueue()

    def read() -> None:
        try:
            while True:
                message = conn.recv()
                inbox.put(message)
                if isinstance(message, Stop):
                    return
        except (EOFError, OSError):  # the server is gone: stop as if asked
            inbox.put(Stop())

    def write() -> None:
        while (message := outbox.get()) is not None:
            try:
                conn.send(message)
            except OSError:  # the server is gone; the reader stops the loop
                return
            except Exception:  # never a silent hang: end this process, the server starts one
                logger.exception("the model's process could not send a result; it stops")
                inbox.put(Stop())
                return

    def receive(wait: bool) -> list[ToEngine]:
        messages = [inbox.get()] if wait else []
        while not inbox.empty():
            messages.append(inbox.get())
        return messages

    reader = threading.Thread(target=read, name="elmo-child-reader", daemon=True)
    writer = threading.Thread(target=write, name="elmo-child-writer", daemon=True)
    reader.start()
    writer.start()
    try:
        serve_stream(embedder.model, receive, outbox.put, embedder.unit_char_ids, engine)
    finally:
        outbox.put(None)  # what is queued is sent first
        writer.join()
