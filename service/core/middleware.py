"""ASGI middleware: request ids, timing and metrics; the API key; the body-size limit.

Written as plain ASGI callables rather than ``BaseHTTPMiddleware``: they must see every
response (also the errors other middleware sends), count bytes as they stream in, and must not
buffer or re-wrap the request body that the routes and the disconnect watcher read.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import (
    BODY_CHUNKS,
    BodyTimeout,
    BodyTooLarge,
    error_body,
    internal_error_message,
)
from service.core.metrics import Metrics

__all__ = ["AuthMiddleware", "BodyLimitMiddleware", "RequestContextMiddleware", "send_error"]

logger = logging.getLogger("service")
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces, bounded


async def send_error(
    send: Send,
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer in the service's error envelope from middleware (outside FastAPI's handlers)."""
    payload = json.dumps(error_body(message, type, None, code)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def app_path(scope: Scope) -> str:
    """The request's path as the app routes it: without the ``root_path`` that uvicorn puts in
    front of it behind a path-prefix proxy (``--root-path``)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and (path == root or path.startswith(root + "/")):  # as Starlette routes it
        path = path[len(root) :]
    return path


class RequestContextMiddleware:
    """Accepts a client's ``X-Request-ID`` (or makes one) and echoes it; adds
    ``Server-Timing: app;dur=<ms>``; records every request in the metrics.

    Routes are labelled by path only when the path is one of the app's routes, so scanners
    probing random URLs cannot blow up the metric's cardinality.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, paths: Callable[[], Iterable[str]]):
        self.app = app
        self.metrics = metrics
        self._paths_source = paths
        self._paths: set[str] | None = None

    @staticmethod
    def _route(path: str, paths: set[str]) -> str:
        """The metric label of ``path``: a path the app answers, the directory of a static file
        it serves (a path ending in ``/*``: ``/docs/assets/*``), or ``unmatched``, so that
        labels stay few whatever clients ask for."""
        if path in paths:
            return path
        directory = path.rsplit("/", 1)[0] + "/*"
        return directory if directory in paths else "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._paths is None:
            self._paths = set(self._paths_source())
        given = Headers(scope=scope).get("x-request-id")
        request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope["request_id"] = request_id
        route = self._route(app_path(scope), self._paths)
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        status_sent = False

        async def send_with_context(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1e3:.1f}"
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_context)
        except Exception as exc:  # logged once here, not again by the server
            logger.error("request %s failed", request_id, exc_info=exc)
            if status_sent:
                return  # the answer was under way: the connection ends unfinished
            await send_error(
                send_with_context, 500, internal_error_message(request_id),
                type="server_error", code="internal_error",
            )  # fmt: skip
        finally:
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


class AuthMiddleware:
    """``Authorization: Bearer <key>`` on every route but liveness and readiness (probes
    carry no secrets) and the playground page with its assets (static files a browser must
    load before anyone can type a key into the page; ``/`` and ``/playground/``, the address
    with a trailing slash, only redirect there)."""

    OPEN_PATHS = frozenset({"/health", "/ready", "/", "/playground", "/playground/"})
    # Only the playground's static mount answers under this prefix (no route shares it), and
    # StaticFiles refuses any path that leaves its directory.
    OPEN_PREFIXES = ("/playground/assets/",)

    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self._key = api_key.encode()

    @classmethod
    def is_open(cls, scope: Scope) -> bool:
        """Whether the path needs no key, seen as the app routes it (:func:`app_path`)."""
        path = app_path(scope)
        return path in cls.OPEN_PATHS or path.startswith(cls.OPEN_PREFIXES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.is_open(scope):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        challenge = [(b"www-authenticate", b"Bearer")]
        if not header:
            await send_error(
                send, 401, "missing API key: send the header 'Authorization: Bearer <key>'",
                type="authentication_error", code="missing_api_key", headers=challenge,
            )  # fmt: skip
            return
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._key):
            await send_error(
                send, 401, "invalid API key in the Authorization header",
                type="authentication_error", code="invalid_api_key", headers=challenge,
            )  # fmt: skip
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: at once from ``Content-Length``, and by counting the
    bytes as they arrive (chunked uploads, or a client that lies about the length).  415 for a
    compressed body.  The pieces that pass are kept in the scope (no copy), so that a body the
    JSON parser refuses gets an answer that says why."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_error(send, 400, "invalid Content-Length header", code="invalid_value")
                return
            if int(declared) > self.max_bytes:
                await send_error(send, 413, self.message(), code="body_too_large")
                return
        encoding = Headers(scope=scope).get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            await send_error(
                send, 415, f"Content-Encoding {encoding!r} is not supported: send the body "
                "uncompressed", code="unsupported_encoding",
            )  # fmt: skip
            return
        received = 0
        chunks: list[bytes] = []  # the body's pieces as they pass, for diagnosing parse errors
        scope[BODY_CHUNKS] = chunks

        deadline = time.monotonic() + self.timeout_s
        complete = False

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body: the disconnect watcher waits as long as it likes
                return await receive()
            try:
                # asyncio's own timeout: anyio's cancel scope cost several times as much per
                # receive, on the event loop, for every request
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] == "http.request":
                complete = not message.get("more_body", False)
                piece = message.get("body", b"")
                received += len(piece)
                if received > self.max_bytes:
                    raise BodyTooLarge(self.message())
                chunks.append(piece)
            return message

        await self.app(scope, counting_receive, send)

    def message(self) -> str:
        return f"the request body is larger than max_body_bytes={self.max_bytes}"
