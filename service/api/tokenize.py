"""``POST /v1/tokenize``: the words (with offsets) and model units of each input, as the
embedding routes would count them against ``max_sentence_tokens``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.flow import ERRORS, State, input_size, json_bytes, run_work
from service.api.inputs import tokenize_inputs
from service.api.schemas import TokenizeRequest, TokenizeResponse

__all__ = ["router"]

router = APIRouter()


@router.post(
    "/v1/tokenize",
    response_model=TokenizeResponse,
    responses=ERRORS,
    summary="The words (with offsets) and model units of each input",
)
async def tokenize(body: TokenizeRequest, state: State) -> Response:
    """``units`` is what counts against ``max_sentence_tokens``."""
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
        return json_bytes({"model": state.model_name, "data": data})

    size = input_size(body.inputs)
    return Response(await run_work(state, run, size), media_type="application/json")
