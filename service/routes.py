"""The HTTP routes.

Handlers stay on the event loop only for cheap work: tokenization and preparing units,
shaping vectors and JSON encoding run in worker threads (``to_thread``), the model runs in the
scheduler's thread, so one large request never stalls the others.  Responses are written as
JSON bytes directly (FastAPI's generic encoder walks every float in Python and is slow for
vectors); the response models still document the bodies at ``/docs``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from elmo import __version__
from elmo.errors import InvalidInputError
from elmo.inference.embedder import PreparedSentence
from elmo.inference.pooling import Mix
from service.errors import ClientDisconnected, ServiceError
from service.inference import RESTART_RETRY_AFTER_S
from service.inputs import Sentence, prepare_inputs, tokenize_inputs
from service.outputs import Refusal, Shape, encode_array
from service.scheduler import QueueFull, Reservation, Result, SchedulerStopped
from service.schemas import (
    EmbedRequest,
    EmbedResponse,
    ErrorResponse,
    MixWeights,
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingResponse,
    TokenizeRequest,
    TokenizeResponse,
)
from service.state import ServiceState

__all__ = ["router"]

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "invalid request (names the field or limit)"},
    401: {"model": ErrorResponse, "description": "missing or wrong API key"},
    404: {"model": ErrorResponse, "description": "unknown model"},
    413: {"model": ErrorResponse, "description": "body larger than max_body_bytes"},
    429: {"model": ErrorResponse, "description": "queue full; see Retry-After"},
    503: {"model": ErrorResponse, "description": "not ready, shutting down, or timed out"},
}
OPENAI_VECTOR = "the mean over tokens of the average of all layers (equal weights), L2-normalised"


# Work below this size (characters in, floats out) runs on the event loop: handing it to a
# thread costs more than doing it, and many threads contending for the GIL starve the
# inference thread, whose every torch call gives up the GIL and must win it back.
INLINE_WORK = 20_000
T = TypeVar("T")


async def _run(state: ServiceState, work: Callable[[], T], size: int) -> T:
    """``work()`` inline when small, else in a worker thread (at most as many as CPUs)."""
    if size <= INLINE_WORK:
        return work()
    return await to_thread.run_sync(work, limiter=state.cpu_limiter)


def _input_size(inputs: str | list[str] | list[list[str]]) -> int:
    if isinstance(inputs, str):
        return len(inputs)
    return sum(len(x) if isinstance(x, str) else sum(map(len, x)) for x in inputs)


def _state(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


def _json(content: Any) -> bytes:
    # allow_nan=False: a non-finite value is a bug to fail on, never a 200 that is not JSON
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


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


@contextlib.asynccontextmanager
async def _admitted(
    state: ServiceState, inputs: str | list[str] | list[list[str]]
) -> AsyncIterator[Reservation]:
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


def _stopping() -> ServiceError:
    return ServiceError(
        503, "the server is shutting down", type="server_error", code="shutting_down"
    )


async def _infer(
    state: ServiceState,
    request: Request,
    sentences: list[PreparedSentence],
    shape: Shape,
    reservation: Reservation,
) -> list[Result]:
    """Run sentences through the scheduler, each one's vectors shaped as the answer needs
    them: 429 when the queue is full, a JSON error after ``timeout_s``, and the work dropped
    when the client disconnects."""
    _, scheduler = state.require_ready()
    settings = state.settings
    try:
        job = scheduler.submit(sentences, shape, reservation)
    except QueueFull as exc:
        raise _busy(state, str(exc)) from None
    except SchedulerStopped:
        raise _stopping() from None
    state.metrics.scheduled.inc()
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait(
            {job.future, watcher}, timeout=settings.timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if job.future in done:
            return job.future.result()
        if watcher in done:
            state.metrics.rejected.labels("disconnected").inc()
            raise ClientDisconnected()
        state.metrics.rejected.labels("timeout").inc()
        raise ServiceError(
            503,
            f"the request did not finish within timeout_s={settings.timeout_s} seconds",
            type="server_error",
            code="timeout",
            headers={"Retry-After": "1"},
        )
    finally:
        watcher.cancel()
        if not job.future.done():
            scheduler.cancel(job)
            job.future.cancel()
        state.metrics.scheduled.dec()


async def _embed_inputs(
    state: ServiceState,
    request: Request,
    inputs: str | list[str] | list[list[str]],
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
        sentences = await _run(state, prepare, _input_size(inputs))
        prepared = [s.prepared for s in sentences]
        return sentences, await _infer(state, request, prepared, shape, reservation)


def _layers(requested: str | list[int], count: int) -> tuple[int, ...]:
    if requested == "all":
        return tuple(range(count))
    if not requested:
        raise ServiceError(400, "layers must not be empty", param="layers", code="invalid_value")
    for i, k in enumerate(requested):
        if not 0 <= k < count:
            raise ServiceError(
                400,
                f"layers[{i}] is {k}: this model has layers 0..{count - 1} "
                "(0: context-free token layer)",
                param=f"layers[{i}]",
                code="invalid_value",
            )
    return tuple(requested)


def _mix(requested: str | MixWeights | None, count: int) -> Mix | None:
    if requested is None:
        return None
    if isinstance(requested, str):
        return Mix.parse(requested, count)
    if len(requested.weights) != count:
        raise ServiceError(
            400,
            f"mix.weights has {len(requested.weights)} weights for {count} chosen layers",
            param="mix.weights",
            code="invalid_value",
        )
    try:
        return Mix(tuple(requested.weights), requested.gamma)
    except InvalidInputError as exc:
        param = "mix.gamma" if "gamma" in str(exc) else "mix.weights"
        raise ServiceError(400, str(exc), param=param, code="invalid_value") from None


def _offsets(sentence: Sentence) -> list[list[int]] | None:
    return None if sentence.offsets is None else [list(o) for o in sentence.offsets]


@router.post(
    "/v1/embed",
    response_model=EmbedResponse,
    responses=_ERRORS,
    summary="Contextual vectors per layer or mixed, per token or pooled",
)
async def embed(body: EmbedRequest, request: Request) -> Response:
    """Each input is one sentence. Without ``mix``, ``embeddings`` is ``[K, n, dim]`` for the
    chosen layers; with a mix ``[n, dim]``; pooled over tokens ``[K, dim]`` or ``[dim]``."""
    state = _state(request)
    embedder, _ = state.require_ready()
    state.check_model(body.model)
    layers = _layers(body.layers, embedder.num_layers)
    mix = _mix(body.mix, len(layers))
    shape = Shape(
        layers, mix, body.pooling, body.normalize, body.unit_pooling or embedder.unit_pooling
    )
    sentences, results = await _embed_inputs(
        state, request, body.inputs, shape, field="inputs", truncate=body.truncate
    )

    def render() -> bytes:
        data, words = [], 0
        for i, (sentence, array) in enumerate(zip(sentences, results, strict=True)):
            if isinstance(array, Refusal):  # a mix that overflows float32 for these vectors
                raise ServiceError(
                    400, f"inputs[{i}]: {array.reason}", param="mix.gamma", code="invalid_value"
                )
            words += len(sentence.tokens)
            data.append(
                {
                    "index": i,
                    "tokens": sentence.tokens,
                    "offsets": _offsets(sentence),
                    "embeddings": encode_array(array, body.encoding_format, body.dtype),
                    "truncated": sentence.truncated,
                }
            )
        return _json(
            {
                "model": state.model_name,
                "dim": embedder.dim,
                "layers": list(layers),
                "mixed": mix is not None,
                "pooling": body.pooling,
                "data": data,
                "usage": {"tokens": words, "units": sum(s.prepared.num_units for s in sentences)},
            }
        )

    per_sentence = embedder.dim * (1 if mix is not None else len(layers))
    if body.pooling == "none":
        size = per_sentence * sum(s.prepared.num_units for s in sentences)
    else:
        size = per_sentence * len(sentences)
    return Response(await _run(state, render, size), media_type="application/json")


@router.post(
    "/v1/embeddings",
    response_model=OpenAIEmbeddingResponse,
    responses=_ERRORS,
    summary="OpenAI-compatible embeddings: one vector per input text",
)
async def openai_embeddings(body: OpenAIEmbeddingRequest, request: Request) -> Response:
    """The vector is the mean over tokens of the average of all layers, L2-normalised.
    ``encoding_format: base64`` is little-endian float32, as the OpenAI client decodes it."""
    state = _state(request)
    embedder, _ = state.require_ready()
    state.check_model(body.model)
    if body.dimensions is not None and body.dimensions != embedder.dim:
        raise ServiceError(
            400,
            f"dimensions is {body.dimensions}, but this model's vectors have {embedder.dim} "
            "(no other size is offered)",
            param="dimensions",
            code="invalid_value",
        )
    shape = Shape.openai(embedder.num_layers, embedder.unit_pooling)
    sentences, vectors = await _embed_inputs(
        state, request, body.input, shape, field="input", truncate=False
    )

    def render() -> bytes:
        data = []
        for i, vector in enumerate(vectors):
            assert not isinstance(vector, Refusal)  # an average of finite vectors is finite
            if body.encoding_format == "base64":
                encoded: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
            else:
                encoded = vector.tolist()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        units = sum(s.prepared.num_units for s in sentences)
        return _json(
            {
                "object": "list",
                "data": data,
                "model": state.model_name,
                "usage": {"prompt_tokens": units, "total_tokens": units},
            }
        )

    size = sum(s.prepared.num_units for s in sentences) + embedder.dim * len(sentences)
    return Response(await _run(state, render, size), media_type="application/json")


@router.post(
    "/v1/tokenize",
    response_model=TokenizeResponse,
    responses=_ERRORS,
    summary="The words (with offsets) and model units of each input",
)
async def tokenize(body: TokenizeRequest, request: Request) -> Response:
    """``units`` is what counts against ``max_sentence_tokens``."""
    state = _state(request)
    embedder, _ = state.require_ready()
    state.check_model(body.model)
    max_inputs = state.settings.max_inputs

    def run() -> bytes:
        data = []
        for i, (tokens, offsets) in enumerate(tokenize_inputs(body.inputs, max_inputs)):
            pieces = None
            if embedder.units is not None:
                ids = embedder.units.encode_words(tokens)
                to_piece = embedder.units.processor.id_to_piece
                pieces = [[to_piece(u) for u in word] for word in ids]
            data.append(
                {
                    "index": i,
                    "tokens": tokens,
                    "offsets": None if offsets is None else [list(o) for o in offsets],
                    "pieces": pieces,
                    "units": len(tokens) if pieces is None else sum(len(p) for p in pieces),
                }
            )
        return _json({"model": state.model_name, "data": data})

    size = _input_size(body.inputs)
    return Response(await _run(state, run, size), media_type="application/json")


@router.get("/v1/models", summary="The served model, in OpenAI's list format")
async def models(request: Request) -> JSONResponse:
    state = _state(request)
    entry = {
        "id": state.model_name,
        "object": "model",
        "created": state.created,
        "owned_by": "elmo-service",
    }
    return JSONResponse({"object": "list", "data": [entry]})


@router.get("/health", summary="Liveness: the process answers")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/ready",
    summary="Readiness: 200 once the model is loaded and warmed; 503 (with Retry-After) before, "
    "while the model's process restarts, and while draining",
)
async def ready(request: Request) -> JSONResponse:
    state = _state(request)
    status = (
        "draining" if state.draining
        else "failed" if state.load_error is not None
        else "loading" if not state.ready
        else "restarting" if state.restarting
        else "ready"
    )  # fmt: skip
    if status == "ready":
        return JSONResponse({"status": status})
    retry = {"Retry-After": str(RESTART_RETRY_AFTER_S)} if status != "failed" else None
    return JSONResponse({"status": status}, status_code=503, headers=retry)


@router.get("/info", summary="Model, dimensions, layers, tokenizer and every limit")
async def info(request: Request) -> JSONResponse:
    state = _state(request)
    embedder, _ = state.require_ready()
    config = embedder.config
    layers = [{"index": 0, "name": "token layer (char-CNN, context-free)"}] + [
        {"index": k, "name": f"biLSTM layer {k} (forward + backward)"}
        for k in range(1, embedder.num_layers)
    ]
    if embedder.units is None:
        tokenizer: dict[str, Any] = {"type": "words"}
    else:
        tokenizer = {
            "type": "sentencepiece",
            "vocab_size": embedder.units.vocab_size,
            "unit_pooling": embedder.unit_pooling,
        }
    return JSONResponse(
        {
            "model": state.model_name,
            "dim": embedder.dim,
            "num_layers": embedder.num_layers,
            "layers": layers,
            "cell": config.recurrent.cell,
            "tokenizer": tokenizer,
            "device": state.device,
            "inference_process": state.inference is not None,
            "continuous_batching": state.streaming,
            "version": __version__,
            "openai_embedding": OPENAI_VECTOR,
            "auth": state.settings.api_key is not None,
            "limits": state.settings.limits(),
        }
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    payload, content_type = _state(request).metrics.render()
    return Response(payload, media_type=content_type)
