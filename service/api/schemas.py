"""Request and response bodies (pydantic), which are also the OpenAPI schema at ``/docs``.

Native requests forbid unknown fields, so a typo (``"pooling_mode"``) is an error rather than
a silently ignored option; the OpenAI-compatible request ignores them, as clients of that API
may send fields we do not know yet.  Types are strict: ``"3"`` is not a layer index.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from elmo import FLOAT32_MAX

__all__ = [
    "ClassifyResponse",
    "EmbedRequest",
    "EmbedResponse",
    "ErrorResponse",
    "MixWeights",
    "OpenAIEmbeddingRequest",
    "OpenAIEmbeddingResponse",
    "TagResponse",
    "TaskRequest",
    "TokenizeRequest",
    "TokenizeResponse",
]

# The schema says what the server refuses (empty texts, tokens and lists, answered with 400s of
# its own that name the input), so that clients and fuzzers generated from it agree with it.
_TEXT = {"type": "string", "minLength": 1}
Text = Annotated[str, WithJsonSchema(_TEXT)]
Texts = Annotated[list[str], WithJsonSchema({"type": "array", "items": _TEXT, "minItems": 1})]
TokenLists = Annotated[
    list[list[str]],
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "array", "items": _TEXT, "minItems": 1},
            "minItems": 1,
        }
    ),
]
Inputs = Text | Texts | TokenLists


def _integral(value: Any) -> Any:
    """JSON has one number type, and JSON Schema's "integer" admits ``1.0``: so do we."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Layers = Annotated[
    list[Annotated[int, BeforeValidator(_integral)]],
    WithJsonSchema({"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}),
]
_INPUTS_DOC = (
    "a text, a list of texts (tokenized by the server; offsets refer to them), or a list of "
    "token lists (pre-tokenized). Each input is one sentence for the model."
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MixWeights(_Strict):
    """A scalar mix: ``gamma * sum_k softmax(weights)_k * layer_k`` over the chosen layers."""

    weights: list[FiniteFloat] = Field(min_length=1, description="one per chosen layer")
    gamma: FiniteFloat = Field(
        1.0, ge=-FLOAT32_MAX, le=FLOAT32_MAX, description="a float32: |gamma| <= 3.4028e38"
    )


class EmbedRequest(_Strict):
    inputs: Inputs = Field(description=_INPUTS_DOC)
    model: str | None = Field(None, description="the served model's name or 'default'")
    layers: Literal["all"] | Layers = Field(
        "all", description="layer indices (0: context-free) in the order wanted, or 'all'"
    )
    mix: Literal["average", "top"] | MixWeights | None = Field(
        None, description="null: every chosen layer; or one mixed vector per token"
    )
    pooling: Literal["none", "mean", "max", "first_last"] = Field(
        "none", description="'none': a vector per token; otherwise one per sentence"
    )
    unit_pooling: Literal["mean", "first", "last"] | None = Field(
        None, description="sentencepiece models: how a word's piece vectors become its vector"
    )
    normalize: bool = Field(False, description="L2-normalise every returned vector")
    encoding_format: Literal["float", "base64"] = "float"
    dtype: Literal["float32", "float16"] = Field(
        "float32", description="float16: values rounded to half precision (base64: 2 bytes each)"
    )
    truncate: bool = Field(
        False, description="cut sentences over max_sentence_tokens instead of refusing them"
    )


class TaskRequest(_Strict):
    """``POST /v1/classify`` and ``POST /v1/tag``: the served task model's predictions."""

    inputs: Inputs = Field(description=_INPUTS_DOC)
    model: str | None = Field(None, description="the served model's name or 'default'")
    truncate: bool = Field(
        False, description="cut sentences over max_sentence_tokens instead of refusing them"
    )


class TokenizeRequest(_Strict):
    inputs: Inputs = Field(description=_INPUTS_DOC)
    model: str | None = None


class OpenAIEmbeddingRequest(BaseModel):
    """OpenAI's ``POST /v1/embeddings`` body (``user`` and unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    input: Text | Texts = Field(description="a text or a list of texts")
    model: str = Field("default", description="the served model's name or 'default'")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="base64: little-endian float32 (the OpenAI client's default)"
    )
    dimensions: int | None = Field(None, description="accepted only if equal to the model's")
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _no_token_ids(cls, value: Any) -> Any:
        def ids(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool)

        token_ids = isinstance(value, list) and bool(value)
        token_ids = token_ids and (
            all(ids(x) for x in value)
            or all(isinstance(x, list) and all(ids(i) for i in x) for x in value)
        )
        if token_ids:
            raise PydanticCustomError(
                "elmo_token_ids",
                "token-id arrays are not supported: this server tokenizes text itself; "
                "send a string or a list of strings",
                {},
            )
        return value


Vectors = list[Any]


class Base64Array(BaseModel):
    data: str = Field(description="base64 of the array's bytes, little-endian, C order")
    dtype: Literal["float32", "float16"]
    shape: list[int]


class EmbedItem(BaseModel):
    index: int
    tokens: list[str]
    offsets: list[tuple[int, int]] | None = Field(
        description="[start, end) character (code point) offsets into the input text; null "
        "for token lists"
    )
    embeddings: Vectors | Base64Array = Field(
        description="[K, n, dim] (per layer, per token), [n, dim] (mixed), [K, dim] (pooled) "
        "or [dim] (mixed and pooled)"
    )
    truncated: bool


class Usage(BaseModel):
    tokens: int = Field(description="words returned")
    units: int = Field(description="units the model read (pieces for sentencepiece models)")


class EmbedResponse(BaseModel):
    model: str
    dim: int
    layers: list[int] = Field(description="the layers returned, or mixed")
    mixed: bool
    pooling: str
    data: list[EmbedItem]
    usage: Usage


class TaskInfo(BaseModel):
    name: str = Field(description="the task model's directory name")
    kind: Literal["classify", "tag"]


class ClassifyItem(BaseModel):
    index: int
    tokens: list[str]
    offsets: list[tuple[int, int]] | None = Field(
        description="[start, end) character offsets into the input text; null for token lists"
    )
    truncated: bool
    label: str = Field(description="the most probable label")
    probabilities: dict[str, float] = Field(description="every label's probability")


class TagItem(BaseModel):
    index: int
    tokens: list[str]
    offsets: list[tuple[int, int]] | None = Field(
        description="[start, end) character offsets into the input text; null for token lists"
    )
    truncated: bool
    tags: list[str] = Field(description="the most probable tag of each token")
    probabilities: list[dict[str, float]] = Field(description="per token, every tag's probability")


class ClassifyResponse(BaseModel):
    model: str
    task: TaskInfo
    data: list[ClassifyItem]
    usage: Usage


class TagResponse(BaseModel):
    model: str
    task: TaskInfo
    data: list[TagItem]
    usage: Usage


class TokenizeItem(BaseModel):
    index: int
    tokens: list[str]
    offsets: list[tuple[int, int]] | None
    pieces: list[list[str]] | None = Field(description="sentencepiece models: each word's pieces")
    units: int


class TokenizeResponse(BaseModel):
    model: str
    data: list[TokenizeItem]


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail
