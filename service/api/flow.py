"""What every embedding route does with a request: admit it, prepare it, run it, answer it.

Handlers stay on the event loop only for cheap work: tokenization and preparing units,
shaping vectors and JSON encoding run in worker threads (``to_thread``) once they are large,
the model runs behind the scheduler, so one large request never stalls the others.  Responses
are written as JSON bytes directly (FastAPI's generic encoder walks every float in Python and is
slow for vectors); the response models still document the bodies at ``/docs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from anyio import to_thread
from fastapi import Depends, Request

from service.api.inputs import Sentence, prepare_inputs
from service.api.schemas import ErrorResponse
from service.core.errors import ClientDisconnected, ServiceError
from service.engine.scheduler import QueueFull, Reservation, Result, SchedulerStopped
from service.engine.shape import Shape
from service.state import ServiceState

__all__ = [
    "ERRORS",
    "INLINE_WORK",
    "Inputs",
    "State",
    "embed_inputs",
    "input_size",
    "json_bytes",
    "run_work",
]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "invalid request (names the field or limit)"},
    401: {"model": ErrorResponse, "description": "missing or wrong API key"},
    404: {"model": ErrorResponse, "description": "unknown model"},
    413: {"model": ErrorResponse, "description": "body larger than max_body_bytes"},
    429: {"model": ErrorResponse, "description": "queue full; see Retry-After"},
    503: {"model": ErrorResponse, "description": "not ready, shutting down, or timed out"},
}

# Work below this size (characters in, floats out) runs on the event loop: handing it to a
# thread costs more than doing it, and many threads contending for the GIL starve the
# inference thread, whose every torch call gives up the GIL and must win it back.
INLINE_WORK = 20_000
T = TypeVar("T")
Inputs = str | list[str] | list[list[str]]


async def _state(request: Request) -> ServiceState:
    # async: FastAPI runs a plain function dependency in a worker thread, a hop per request
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(_state)]
"""The app's :class:`ServiceState`, as a route's typed dependency."""


async def run_work(state: ServiceState, work: Callable[[], T], size: int) -> T:
    """``work()`` inline when small, else in a worker thread (at most as many as CPUs)."""
    if size <= INLINE_WORK:
        return work()
    return await to_thread.run_sync(work, limiter=state.cpu_limiter)


def input_size(inputs: Inputs) -> int:
    if isinstance(inputs, str):
        return len(inputs)
    return sum(len(x) if isinstance(x, str) else sum(map(len, x)) for x in inputs)


def json_bytes(content: Any) -> bytes:
    # allow_nan=False: a non-finite value is a bug to fail on, never a 200 that is not JSON
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone (the next ASGI message after the body is the
    disconnect; the server sends it when the connection closes)."""
    try:
        while (await request.receive())["type"] != "http.disconnect":
            pass
    except Exception:  # the connection is unusable either way
        return


def _busy(state: ServiceState, why: str) -> ServiceError:
    state.metrics.rejected.labels("queue_full").inc()
    return ServiceError(
        429,
        f"the server is busy: {why}; retry later",
        type="server_busy",
        code="queue_full",
        headers={"Retry-After": "1"},
    )


def _stopping() -> ServiceError:
    return ServiceError(
        503, "the server is shutting down", type="server_error", code="shutting_down"
    )


def _timed_out(state: ServiceState) -> ServiceError:
    state.metrics.rejected.labels("timeout").inc()
    return ServiceError(
        503,
        f"the request did not finish within timeout_s={state.settings.timeout_s} seconds",
        type="server_error",
        code="timeout",
        headers={"Retry-After": "1"},
    )


@contextlib.asynccontextmanager
async def _admitted(state: ServiceState, inputs: Inputs) -> AsyncIterator[Reservation]:
    """Hold the request's room in the queue, or refuse it at once (429), before any work on
    it; then give the event loop back once, so that the requests that arrived with this one
    are admitted or refused before its tokenizing holds the loop.  Under a flood, each 429
    otherwise waited for the work of every request admitted before it."""
    _, scheduler = state.require_ready()
    try:
        reservation = scheduler.reserve(1 if isinstance(inputs, str) else len(inputs))
    except QueueFull as exc:
        raise _busy(state, str(exc)) from None
    except SchedulerStopped:
        raise _stopping() from None
    try:
        await asyncio.sleep(0)
        yield reservation
    finally:
        reservation.release()  # nothing once submitted


async def _infer(
    state: ServiceState,
    request: Request,
    sentences: list[Sentence],
    shape: Shape,
    reservation: Reservation,
) -> list[Result]:
    """Run sentences through the scheduler, each one's vectors shaped as the answer needs
    them: 429 when the queue is full, a JSON error after ``timeout_s``, and the work dropped
    when the client disconnects."""
    _, scheduler = state.require_ready()
    try:
        job = scheduler.submit([s.prepared for s in sentences], shape, reservation)
    except QueueFull as exc:
        raise _busy(state, str(exc)) from None
    except SchedulerStopped:
        raise _stopping() from None
    state.metrics.scheduled.inc()
    watcher = asyncio.ensure_future(_disconnected(request))
    racing: set[asyncio.Future[Any]] = {job.future, watcher}
    try:
        done, _ = await asyncio.wait(
            racing,
            timeout=state.settings.timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if job.future in done:
            return job.future.result()
        if watcher in done:
            state.metrics.rejected.labels("disconnected").inc()
            raise ClientDisconnected()
        raise _timed_out(state)
    finally:
        watcher.cancel()
        if not job.future.done():
            scheduler.cancel(job)
            job.future.cancel()
        state.metrics.scheduled.dec()


async def embed_inputs(
    state: ServiceState,
    request: Request,
    inputs: Inputs,
    shape: Shape,
    *,
    field: str,
    truncate: bool,
) -> tuple[list[Sentence], list[Result]]:
    """What both embedding routes do with a request's inputs: admit it, tokenize and check
    the limits (``field`` names the inputs in errors), and run its sentences, each shaped as
    the answer needs it."""
    embedder, _ = state.require_ready()
    settings = state.settings
    prepare = partial(
        prepare_inputs,
        embedder,
        inputs,
        max_inputs=settings.max_inputs,
        max_sentence_tokens=settings.max_sentence_tokens,
        max_request_tokens=settings.max_request_tokens,
        truncate=truncate,
        field=field,
    )
    async with _admitted(state, inputs) as reservation:
        sentences = await run_work(state, prepare, input_size(inputs))
        return sentences, await _infer(state, request, sentences, shape, reservation)
