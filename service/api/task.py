"""``POST /v1/classify`` and ``POST /v1/tag``: a task model (``elmo task train``) on the served
biLM, registered only when the service runs one (``--task``; the route of its kind).

A request goes the embedding routes' way (admission, limits, the scheduler, timeouts and
disconnects: :func:`~service.api.flow.embed_inputs`) for every layer per word; the task's mix
and head then run in this process.  Startup has checked that the task was trained on the
served weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response

from service.api.flow import ERRORS, State, embed_inputs, json_bytes, run_work
from service.api.inputs import Sentence
from service.api.schemas import ClassifyResponse, TagResponse, TaskRequest
from service.core.errors import ServiceError
from service.engine.shape import Shape
from service.state import ServiceState

__all__ = ["CLASSIFY_PATH", "TAG_PATH", "router_for"]

CLASSIFY_PATH = "/v1/classify"
TAG_PATH = "/v1/tag"


def _offsets(sentence: Sentence) -> list[list[int]] | None:
    return None if sentence.offsets is None else [list(o) for o in sentence.offsets]


async def _answer(body: TaskRequest, request: Request, state: ServiceState) -> Response:
    embedder, _ = state.require_ready()
    state.check_model(body.model)
    predictor = state.task
    assert predictor is not None  # loaded before ready, where the route is registered
    layers = tuple(range(embedder.num_layers))
    shape = Shape(layers, None, "none", False, "mean")
    sentences, results = await embed_inputs(
        state, request, body.inputs, shape, field="inputs", truncate=body.truncate
    )
    arrays = []
    for i, array in enumerate(results):
        if not isinstance(array, np.ndarray):  # only a mix is refused, and there is none
            raise ServiceError(500, f"inputs[{i}]: no layers", type="server_error")
        arrays.append(array)
    size = embedder.dim * len(layers) * sum(s.prepared.num_units for s in sentences)

    def work() -> bytes:
        records = predictor.predict_layers(arrays, [s.tokens for s in sentences])
        data: list[dict[str, Any]] = []
        for i, (sentence, record) in enumerate(zip(sentences, records, strict=True)):
            item: dict[str, Any] = {
                "index": i,
                "tokens": sentence.tokens,
                "offsets": _offsets(sentence),
                "truncated": sentence.truncated,
            }
            if predictor.task == "classify":
                item |= {"label": record["label"], "probabilities": record["probabilities"]}
            else:
                item |= {"tags": record["tags"], "probabilities": record["probabilities"]}
            data.append(item)
        return json_bytes(
            {
                "model": state.model_name,
                "task": {"name": state.task_name, "kind": predictor.task},
                "data": data,
                "usage": {
                    "tokens": sum(len(s.tokens) for s in sentences),
                    "units": sum(s.prepared.num_units for s in sentences),
                },
            }
        )

    return Response(await run_work(state, work, size), media_type="application/json")


classify_router = APIRouter()
tag_router = APIRouter()


@classify_router.post(
    CLASSIFY_PATH,
    response_model=ClassifyResponse,
    responses=ERRORS,
    summary="A label per input, from the served task model (elmo serve --task)",
)
async def classify(body: TaskRequest, request: Request, state: State) -> Response:
    """Each input is one sentence: its label and the probability of every label."""
    return await _answer(body, request, state)


@tag_router.post(
    TAG_PATH,
    response_model=TagResponse,
    responses=ERRORS,
    summary="A tag per token, from the served task model (elmo serve --task)",
)
async def tag(body: TaskRequest, request: Request, state: State) -> Response:
    """Each input is one sentence: a tag per token and, per token, every tag's probability."""
    return await _answer(body, request, state)


def router_for(kind: str | None) -> APIRouter | None:
    """The router of a task of ``kind`` (None: no task, no route)."""
    return {"classify": classify_router, "tag": tag_router}.get(kind or "")
