"""The HTTP contract fuzzed from the server's own OpenAPI schema (schemathesis): generated
requests, valid and not, must get answers the schema allows (status, content type, body shape)
and never a 5xx; requests the schema forbids must be refused.

One check is left out: that every schema-valid request is accepted.  The schema cannot say
what depends on the request as a whole or on the text (a mix needs one weight per chosen
layer, a sentence at most ``max_sentence_tokens`` units after tokenization), and the server
refuses those with a 400 naming the field, which that check counts as a failure."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

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
            case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])

        try:
            check()
        except BaseException as exc:  # each operation's failures, then the next operation
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
