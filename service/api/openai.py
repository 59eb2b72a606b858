"""The OpenAI-compatible routes: ``POST /v1/embeddings`` and ``GET /v1/models``.

The vector is defined once (:meth:`service.engine.shape.Shape.openai`): the mean over tokens of
the average of all layers, L2-normalised; ``base64`` is little-endian float32, as OpenAI's
client decodes it.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.api.flow import ERRORS, State, embed_inputs, json_bytes, run_work
from service.api.inputs import Sentence
from service.api.schemas import OpenAIEmbeddingRequest, OpenAIEmbeddingResponse
from service.core.errors import ServiceError
from service.engine.scheduler import Result
from service.engine.shape import Refusal, Shape

__all__ = ["OPENAI_VECTOR", "router"]

router = APIRouter()

OPENAI_VECTOR = "the mean over tokens of the average of all layers (equal weights), L2-normalised"


def _render(
    body: OpenAIEmbeddingRequest, model: str, sentences: list[Sentence], vectors: list[Result]
) -> bytes:
    data = []
    for i, vector in enumerate(vectors):
        assert not isinstance(vector, Refusal)  # an average of finite vectors is finite
        if body.encoding_format == "base64":
            encoded: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
        else:
            encoded = vector.tolist()
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    units = sum(s.prepared.num_units for s in sentences)
    return json_bytes(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": units, "total_tokens": units},
        }
    )


@router.post(
    "/v1/embeddings",
    response_model=OpenAIEmbeddingResponse,
    responses=ERRORS,
    summary="OpenAI-compatible embeddings: one vector per input text",
)
async def openai_embeddings(
    body: OpenAIEmbeddingRequest, request: Request, state: State
) -> Response:
    """The vector is the mean over tokens of the average of all layers, L2-normalised.
    ``encoding_format: base64`` is little-endian float32, as the OpenAI client decodes it."""
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
    sentences, vectors = await embed_inputs(
        state, request, body.input, shape, field="input", truncate=False
    )
    size = sum(s.prepared.num_units for s in sentences) + embedder.dim * len(sentences)

    def render() -> bytes:
        return _render(body, state.model_name, sentences, vectors)

    return Response(await run_work(state, render, size), media_type="application/json")


@router.get("/v1/models", summary="The served model, in OpenAI's list format")
async def models(state: State) -> JSONResponse:
    entry = {
        "id": state.model_name,
        "object": "model",
        "created": state.created,
        "owned_by": "elmo-service",
    }
    return JSONResponse({"object": "list", "data": [entry]})
