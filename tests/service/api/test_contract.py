"""The HTTP contract fuzzed from the server's own OpenAPI schema (schemathesis): generated
requests, valid and not, must get answers the schema allows (status, content type, body shape)
and never a 5xx; requests the schema forbids must be refused.

Schemathesis' own check that every schema-valid request is accepted is replaced by a stricter
one of ours: the schema cannot say what depends on the request as a whole or on the text (a
mix needs one weight per chosen layer, a sentence at most ``max_sentence_tokens`` units after
tokenization), so a schema-valid request may get a 400 for such a reason, but only after the
request model has accepted its body (else the schema promises what the server refuses) and
only with one of the codes those refusals carry."""

from __future__ import annotations

import json
import re

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from pydantic import BaseModel  # noqa: E402
from schemathesis import checks  # noqa: E402

from service.api.schemas import EmbedRequest, OpenAIEmbeddingRequest, TokenizeRequest  # noqa: E402

REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "/v1/embed": EmbedRequest,
    "/v1/embeddings": OpenAIEmbeddingRequest,
    "/v1/tokenize": TokenizeRequest,
}
# What a schema-valid request may still be refused for: its text (too many units, a lone
# surrogate, nothing but spaces), its parts together (weights per layer, layers of this model,
# a mix that overflows float32), or a model name that is not the one served.
REQUEST_DEPENDENT = {
    (400, "sentence_too_long"): r"inputs(\[\d+\])?|input(\[\d+\])?",
    (400, "request_too_large"): r"inputs|input",
    (400, "empty_input"): r"inputs(\[\d+\])?|input(\[\d+\])?",
    (400, "invalid_value"): (
        r"inputs(\[\d+\])?|input(\[\d+\])?|layers\[\d+\]|mix\.weights|mix\.gamma|dimensions"
    ),
    (404, "model_not_found"): r"model",
}


def accepted_or_refused_for_what_the_schema_cannot_say(case, response) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code < 400:
        return
    model = REQUEST_MODELS.get(case.path)
    assert model is not None, f"{case.path} refused a valid request: {response.status_code}"
    model.model_validate_json(json.dumps(case.body))  # the schema and the model agree
    error = response.json()["error"]
    params = REQUEST_DEPENDENT.get((response.status_code, error["code"]))
    assert params is not None and re.fullmatch(params, error["param"] or ""), (
        f"{case.method} {case.path} refused a schema-valid body: {response.status_code} "
        f"{response.text[:300]}"
    )


EXAMPLES_PER_OPERATION = 100


def test_every_operation_answers_within_its_schema_and_without_5xx(shared_server):
    # A real server on the tiny reference model: the schema is the one clients download.
    api = schemathesis.openapi.from_url(f"{shared_server.url}/openapi.json")
    failures = []
    for result in api.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,  # the same cases every run
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
            accepted_or_refused_for_what_the_schema_cannot_say(case, response)

        try:
            check()
        except BaseException as exc:  # each operation's failures, then the next operation
            if isinstance(exc, KeyboardInterrupt):
                raise
            parts = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
            failures += [f"{operation.label}: {part}" for part in parts]
    assert not failures, "\n\n".join(failures)
