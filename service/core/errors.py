"""Every error the service answers, in OpenAI's envelope: ``{"error": {message, type, param,
code}}``.

Errors from below are mapped here, once (:func:`install_handlers`): the library's
:class:`elmo.errors.InvalidInputError` is a 400 naming its ``field``, so routes hand request
values to the library's checks as they are; the engine's
:class:`~service.engine.interface.EngineUnavailable` is a 503 with its code and Retry-After.
One envelope on every route means a client needs one error parser, and the OpenAI client
understands our errors on ``/v1/embeddings``.  Messages name the field (``param``) and, where
a limit was hit, the limit and its value.  No exception text or traceback from inside the
service ever reaches a client: unexpected errors are logged and answered with a generic 500.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from elmo import InvalidInputError
from service.engine.interface import EngineUnavailable

__all__ = [
    "BodyTimeout",
    "BodyTooLarge",
    "ClientDisconnected",
    "ServiceError",
    "error_body",
    "error_response",
    "install_handlers",
]

logger = logging.getLogger("service")

# What a field accepts, for type errors at the field itself (pydantic's union errors name
# every member's tag, which tells a client little).
_FIELD_HINTS = {
    "inputs": "a string, a list of strings, or a list of token lists",
    "input": "a string or a list of strings",
    "layers": "'all' or a list of layer indices",
    "mix": "null, 'average', 'top' or {\"weights\": [...], \"gamma\": g}",
}
# Location parts that are pydantic's names for union members, not field names.
_UNION_TAG = re.compile(r"[\[\]'(),]|^[A-Z]|^(str|int|float|bool|none)$")


class ServiceError(Exception):
    """An error with an HTTP status and the envelope's fields; raised anywhere in a request."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})


class ClientDisconnected(Exception):
    """The client went away before its answer was ready; its work has been dropped."""


class BodyTimeout(StarletteHTTPException):
    """Raised when a body is still incomplete after the allowed time (a client trickling bytes,
    or a ``Content-Length`` larger than what it sends)."""

    code = "body_timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408, f"the request body did not arrive within body_timeout_s={seconds:g} s"
        )


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body streams in; an HTTPException so that FastAPI's body reader
    passes it on instead of calling it a parse error."""

    code = "body_too_large"

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


def error_body(
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def error_response(exc: ServiceError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.message, exc.type, exc.param, exc.code),
        status_code=exc.status,
        headers=exc.headers,
    )


def _param(loc: Sequence[Any]) -> str | None:
    """``("body", "mix", "MixWeights", "weights", 1)`` → ``"mix.weights[1]"``."""
    text = ""
    for part in loc:
        if part == "body" and not text:
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _UNION_TAG.search(str(part)):
            text += f".{part}" if text else str(part)
    return text or None


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """One message and ``param`` for pydantic's error list: the most specific error of the
    first field that failed (a union reports one error per member; the deepest is the one that
    matches what the client sent)."""
    first = errors[0]
    if first.get("type") == "json_invalid":
        position = first["loc"][-1] if first.get("loc") else "?"
        detail = (first.get("ctx") or {}).get("error", "invalid JSON")
        return f"malformed JSON body at character {position}: {detail}", None
    if tuple(first.get("loc", ())) == ("body",):
        if first.get("type") == "missing":
            return "the request body is missing: send a JSON object", None
        return "the request body must be a JSON object", None
    field = _param(first["loc"][:2])
    same_field = [e for e in errors if _param(e["loc"][:2]) == field]
    chosen = max(same_field, key=lambda e: len(_param(e["loc"]) or ""))
    param = _param(chosen["loc"])
    kind = chosen.get("type", "")
    if kind == "missing":
        return f"{param}: field required", param
    if kind == "extra_forbidden":
        return f"{param}: unknown field", param
    if param in _FIELD_HINTS and not kind.startswith("elmo_"):
        return f"{param} must be {_FIELD_HINTS[param]}", param
    message = str(chosen.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{param}: {message}", param


async def _on_service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(exc)


async def _on_invalid_input(request: Request, exc: Exception) -> Response:
    """A value the library refused (a layer the model lacks, a mix it cannot apply): a 400
    naming the field the library names."""
    assert isinstance(exc, InvalidInputError)
    return error_response(ServiceError(400, str(exc), param=exc.field, code="invalid_value"))


async def _on_engine_unavailable(request: Request, exc: Exception) -> Response:
    """The model's process is being replaced, or died with the request's sentences: a 503
    with the engine's code and when to retry."""
    assert isinstance(exc, EngineUnavailable)
    headers = {"Retry-After": str(exc.retry_after_s)}
    return error_response(
        ServiceError(503, str(exc), type="server_error", code=exc.code, headers=headers)
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    kind = _media_type(request.headers.get("content-type"))
    if errors and tuple(errors[0].get("loc", ())) == ("body",) and not _json_or_unsaid(kind):
        message = f"Content-Type must be application/json, got {kind!r}"
        return error_response(ServiceError(415, message, code="unsupported_media_type"))
    message, param = describe_validation_errors(errors)
    return error_response(ServiceError(400, message, param=param, code="invalid_value"))


BODY_CHUNKS = "elmo.body_chunks"
_UNPARSED = "There was an error parsing the body"  # FastAPI's detail, whatever the cause


def _media_type(content_type: str | None) -> str:
    """``Content-Type`` without its parameters, lower case ("" when absent)."""
    return (content_type or "").split(";")[0].strip().lower()


def _json_or_unsaid(kind: str) -> bool:
    return kind in ("", "application/json") or kind.endswith("+json")


def diagnose_body(body: bytes, content_type: str | None) -> str:
    """Why a body that FastAPI could not parse is not a JSON object, in words."""
    kind = _media_type(content_type)
    if not _json_or_unsaid(kind):
        return f"Content-Type must be application/json, got {kind!r}"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not valid UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start}"
    try:
        json.loads(text)
    except RecursionError:
        return "the JSON body nests too deeply to parse"
    except json.JSONDecodeError as exc:
        return f"malformed JSON body at character {exc.pos}: {exc.msg}"
    except ValueError:  # Python's limit on the digits of an integer
        return f"the JSON body holds an integer of more than {sys.get_int_max_str_digits()} digits"
    return "the request body must be a JSON object"


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSED and BODY_CHUNKS in request.scope:
        body = b"".join(request.scope[BODY_CHUNKS])
        message = diagnose_body(body, request.headers.get("content-type"))
        return error_response(ServiceError(400, message, code="invalid_value"))
    code: str | None
    if exc.status_code == 404:
        message = f"unknown route: {request.method} {request.url.path}"
        code = "unknown_route"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
        code = "method_not_allowed"
    else:
        message, code = str(exc.detail), getattr(exc, "code", None)
    return error_response(ServiceError(exc.status_code, message, code=code, headers=exc.headers))


async def _on_disconnect(request: Request, exc: Exception) -> Response:
    # Nobody reads this answer; 499 (nginx's "client closed request") marks it in the metrics.
    return Response(status_code=499)


def internal_error_message(request_id: object) -> str:
    """What a client is told of an unexpected failure: nothing but where the log has it."""
    return f"internal error (request id {request_id}); the server has logged it"


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(InvalidInputError, _on_invalid_input)
    app.add_exception_handler(EngineUnavailable, _on_engine_unavailable)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(ClientDisconnected, _on_disconnect)
