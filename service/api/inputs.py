"""From a request's ``inputs`` to sentences the scheduler can batch, with the limits enforced.

Each input is one sentence for the model: the biLM reads it as one sequence from the zero
state, so splitting a text further would change its vectors.  Raw texts are tokenized by the
library's pre-tokenizer (words and punctuation, with character offsets); token lists are taken
as given.  Every problem is a :class:`ServiceError` naming the input (``inputs[3]``) and, for a
limit, the limit's name and value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from elmo import Embedder, InvalidInputError, PreparedSentence, pre_tokenize
from service.core.errors import ServiceError

__all__ = ["Sentence", "prepare_inputs", "tokenize_inputs"]


@dataclass(frozen=True)
class Sentence:
    """One input, tokenized and turned into model units."""

    tokens: list[str]
    offsets: list[tuple[int, int]] | None
    prepared: PreparedSentence
    truncated: bool


def tokenize_inputs(
    inputs: str | Sequence[str] | Sequence[Sequence[str]], max_inputs: int, field: str = "inputs"
) -> list[tuple[list[str], list[tuple[int, int]] | None]]:
    """Each input's tokens and offsets (None for token lists); checks count and emptiness."""
    items = [inputs] if isinstance(inputs, str) else list(inputs)
    if not items:
        raise ServiceError(400, f"{field} must not be empty", param=field, code="empty_input")
    if len(items) > max_inputs:
        raise ServiceError(
            400,
            f"{field} has {len(items)} items, more than max_inputs={max_inputs}; split the request",
            param=field,
            code="too_many_inputs",
        )
    result: list[tuple[list[str], list[tuple[int, int]] | None]] = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]" if not isinstance(inputs, str) else field
        if isinstance(item, str):
            if not item:
                raise ServiceError(
                    400, f"{where} is an empty string", param=where, code="empty_input"
                )
            try:
                words = pre_tokenize(item)
            except InvalidInputError as exc:
                raise ServiceError(
                    400, f"{where}: {exc}", param=where, code="invalid_value"
                ) from None
            if not words:
                raise ServiceError(
                    400, f"{where} has no tokens (only white space)", param=where,
                    code="empty_input",
                )  # fmt: skip
            result.append(([w.text for w in words], [(w.start, w.end) for w in words]))
        else:
            if not item:
                raise ServiceError(400, f"{where} has no tokens", param=where, code="empty_input")
            for j, token in enumerate(item):
                if not token:
                    raise ServiceError(
                        400, f"{where}[{j}] is an empty token", param=f"{where}[{j}]",
                        code="empty_input",
                    )  # fmt: skip
            result.append((list(item), None))
    return result


def prepare_inputs(
    embedder: Embedder,
    inputs: str | Sequence[str] | Sequence[Sequence[str]],
    *,
    max_inputs: int,
    max_sentence_tokens: int,
    truncate: bool,
    field: str = "inputs",
    max_request_tokens: int | None = None,
) -> list[Sentence]:
    """Tokenize, check the limits, and prepare each input's units for the model.

    A sentence over ``max_sentence_tokens`` units is refused unless ``truncate``, which keeps
    the longest prefix of whole words that fits.  A request whose sentences add up to more
    than ``max_request_tokens`` units is refused as soon as they do (one request must not hold
    the model for longer than its timeout).
    """
    sentences, total = [], 0
    for i, (tokens, offsets) in enumerate(tokenize_inputs(inputs, max_inputs, field)):
        where = f"{field}[{i}]" if not isinstance(inputs, str) else field
        try:
            (prepared,) = embedder.prepare([tokens])
        except InvalidInputError as exc:  # the library names the token; we name the input
            raise ServiceError(400, f"{where}: {exc}", param=where, code="invalid_value") from None
        sentence = Sentence(tokens, offsets, prepared, False)
        if prepared.num_units > max_sentence_tokens:
            sentence = _cut(embedder, sentence, max_sentence_tokens, truncate, where, field)
        sentences.append(sentence)
        total += prepared.num_units
        if max_request_tokens is not None and total > max_request_tokens:
            raise ServiceError(
                400,
                f"{field} add up to more than max_request_tokens={max_request_tokens} tokens "
                f"(model units) by {where}; split the request",
                param=field,
                code="request_too_large",
            )
    return sentences


def _cut(
    embedder: Embedder, sentence: Sentence, limit: int, truncate: bool, where: str, field: str
) -> Sentence:
    """A sentence over ``limit`` units: refused, or with ``truncate`` its longest prefix of
    whole words that fits (refused when not even its first word does)."""
    if not truncate:
        hint = '; shorten it or send "truncate": true' if field == "inputs" else ""
        raise ServiceError(
            400,
            f"{where} has {sentence.prepared.num_units} tokens (model units), more than "
            f"max_sentence_tokens={limit}{hint}",
            param=where,
            code="sentence_too_long",
        )
    prepared, kept = _truncate(sentence.prepared, limit)
    if kept == 0:  # a first word longer than the limit: nothing whole is left
        first = _units_of_word(embedder, sentence.tokens[0])
        raise ServiceError(
            400,
            f"{where}: its first word alone has {first} tokens (model units), more than "
            f"max_sentence_tokens={limit}; truncation keeps whole words, so nothing would be "
            "left",
            param=where,
            code="sentence_too_long",
        )
    offsets = sentence.offsets[:kept] if sentence.offsets is not None else None
    return Sentence(sentence.tokens[:kept], offsets, prepared, True)


def _units_of_word(embedder: Embedder, word: str) -> int:
    """Model units of one word."""
    (prepared,) = embedder.prepare([[word]])
    return int(prepared.num_units)


def _truncate(prepared: PreparedSentence, max_units: int) -> tuple[PreparedSentence, int]:
    """The longest prefix of whole words within ``max_units`` units, and its word count."""
    if prepared.word_units is None:
        return PreparedSentence(prepared.char_ids[:max_units]), max_units
    kept = units = 0
    for size in prepared.word_units:
        if units + size > max_units:
            break
        kept, units = kept + 1, units + size
    return PreparedSentence(prepared.char_ids[:units], prepared.word_units[:kept]), kept
