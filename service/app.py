"""The app factory: routes, error handlers, middleware and the model's lifecycle.

Middleware, outermost first: request id / timing / metrics (so every answer, errors included,
is counted and carries the id), CORS (only when origins are configured; preflights must not
need the API key), the API key (when configured), the body-size limit, then the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from elmo import Embedder, TaskPredictor, __version__
from service.api import paths, router
from service.api.docs import DOCS_PATHS, install_docs
from service.api.playground import PLAYGROUND_PATHS, install_playground
from service.api.task import router_for
from service.core.errors import install_handlers
from service.core.metrics import Metrics
from service.core.middleware import AuthMiddleware, BodyLimitMiddleware, RequestContextMiddleware
from service.core.settings import Settings
from service.state import ServiceState

__all__ = ["create_app"]

_DESCRIPTION = """
Contextual ELMo vectors over HTTP. `POST /v1/embed` returns every layer (or a scalar mix) per
token or pooled per sentence; `POST /v1/embeddings` is OpenAI-compatible. Errors use OpenAI's
envelope `{"error": {"message", "type", "param", "code"}}`; limits are listed at `/info`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    model_path: Path | None = None,
    task: TaskPredictor | None = None,
) -> FastAPI:
    """Build the service for one model: an ``embedder`` already loaded, or a ``model_path``
    that loads in the background once the server runs (``/ready`` says when).

    A task model adds its route (``/v1/classify`` or ``/v1/tag``): ``settings.task`` loads with
    the model and must have been trained on ``model_path``'s weights (startup fails otherwise);
    ``task``, already loaded, is taken to be on the ``embedder``'s biLM."""
    settings = settings or Settings()
    metrics = Metrics()
    state = ServiceState(settings, metrics, embedder=embedder, model_path=model_path, task=task)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(state.start())
        try:
            yield
        finally:
            if not loading.done():
                loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loading
            await state.stop()

    app = FastAPI(
        title="ELMo embeddings",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # install_docs: Swagger UI without a CDN
        redoc_url=None,
    )
    install_docs(app)
    install_playground(app)
    app.state.service = state
    install_handlers(app)
    app.include_router(router)
    task_router = router_for(state.task_kind)
    if task_router is not None:
        app.include_router(task_router)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    if settings.api_key is not None:
        app.add_middleware(AuthMiddleware, api_key=settings.api_key.get_secret_value())
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Server-Timing", "Retry-After"],
        )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        paths=lambda: _route_paths(app),
    )
    _document_400_not_422(app)
    return app


def _route_paths(app: FastAPI) -> list[str]:
    """The paths the app answers (for metric labels): our routes, FastAPI's docs and the
    playground."""
    pages = [p for p in (app.openapi_url, *DOCS_PATHS, *PLAYGROUND_PATHS) if p]
    return paths(app.state.service.task_kind) + pages


def _document_400_not_422(app: FastAPI) -> None:
    """Validation errors are answered 400 in the error envelope; drop FastAPI's default 422
    entries from the OpenAPI schema so that ``/docs`` does not promise another shape.  Once
    the model is loaded, the schema also names the one ``dimensions`` the OpenAI route takes."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            embedder = app.state.service.embedder
            if embedder is None:  # not loaded yet: generate again next time
                app.openapi_schema = None
                return schema
            request = schema["components"]["schemas"]["OpenAIEmbeddingRequest"]
            request["properties"]["dimensions"]["anyOf"] = [
                {"type": "integer", "enum": [embedder.dim]},
                {"type": "null"},
            ]
        cached = app.openapi_schema  # generate() keeps what it made there
        assert cached is not None
        return cached

    # FastAPI's documented way to change the schema is to replace the app's method
    app.openapi = openapi  # type: ignore[method-assign]
