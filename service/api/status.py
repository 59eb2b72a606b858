"""What the service is and how it is: ``/health``, ``/ready``, ``/info`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from elmo import __version__
from service.api.flow import State
from service.api.openai import OPENAI_VECTOR
from service.engine.process import RESTART_RETRY_AFTER_S

__all__ = ["router"]

router = APIRouter()


@router.get("/health", summary="Liveness: the process answers")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/ready",
    summary="Readiness: 200 once the model is loaded and warmed; 503 (with Retry-After) before, "
    "while the model's process restarts, and while draining",
)
async def ready(state: State) -> JSONResponse:
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
async def info(state: State) -> JSONResponse:
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
    task: dict[str, Any] = {}
    if state.task is not None:
        task = {
            "task": {
                "name": state.task_name,
                "kind": state.task.task,
                "labels": state.task.labels,
                "route": "/v1/classify" if state.task.task == "classify" else "/v1/tag",
            }
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
            **task,
        }
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(state: State) -> Response:
    payload, content_type = state.metrics.render()
    return Response(payload, media_type=content_type)
