"""``POST /v1/embed``: vectors per layer or mixed, per token or pooled, as floats or base64."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from elmo import Mix, resolve_layers
from service.api.encoding import encode_array
from service.api.flow import ERRORS, State, embed_inputs, json_bytes, run_work
from service.api.inputs import Sentence
from service.api.schemas import EmbedRequest, EmbedResponse, MixWeights
from service.core.errors import ServiceError
from service.engine.scheduler import Result
from service.engine.shape import Refusal, Shape

__all__ = ["router"]

router = APIRouter()


def _mix(requested: str | MixWeights | None, count: int) -> Mix | None:
    """The request's mix, checked by the library (its errors name the field)."""
    spec = requested.model_dump() if isinstance(requested, MixWeights) else requested
    return Mix.parse(spec, count)


def _offsets(sentence: Sentence) -> list[list[int]] | None:
    return None if sentence.offsets is None else [list(o) for o in sentence.offsets]


def _render(
    body: EmbedRequest, state: State, shape: Shape, sentences: list[Sentence], results: list[Result]
) -> bytes:
    embedder, _ = state.require_ready()
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
    return json_bytes(
        {
            "model": state.model_name,
            "dim": embedder.dim,
            "layers": list(shape.layers),
            "mixed": shape.mix is not None,
            "pooling": body.pooling,
            "data": data,
            "usage": {"tokens": words, "units": sum(s.prepared.num_units for s in sentences)},
        }
    )


@router.post(
    "/v1/embed",
    response_model=EmbedResponse,
    responses=ERRORS,
    summary="Contextual vectors per layer or mixed, per token or pooled",
)
async def embed(body: EmbedRequest, request: Request, state: State) -> Response:
    """Each input is one sentence. Without ``mix``, ``embeddings`` is ``[K, n, dim]`` for the
    chosen layers; with a mix ``[n, dim]``; pooled over tokens ``[K, dim]`` or ``[dim]``."""
    embedder, _ = state.require_ready()
    state.check_model(body.model)
    layers = resolve_layers(body.layers, embedder.num_layers)
    mix = _mix(body.mix, len(layers))
    unit_pooling = body.unit_pooling or embedder.unit_pooling
    shape = Shape(layers, mix, body.pooling, body.normalize, unit_pooling)
    sentences, results = await embed_inputs(
        state, request, body.inputs, shape, field="inputs", truncate=body.truncate
    )
    per_sentence = embedder.dim * (1 if mix is not None else len(layers))
    if body.pooling == "none":
        size = per_sentence * sum(s.prepared.num_units for s in sentences)
    else:
        size = per_sentence * len(sentences)

    def render() -> bytes:
        return _render(body, state, shape, sentences, results)

    return Response(await run_work(state, render, size), media_type="application/json")
