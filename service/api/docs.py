"""``/docs``: Swagger UI from files installed with the service, not from a CDN.

FastAPI's default page loads Swagger UI's script and stylesheet from a public CDN, so the page
stays blank offline, behind a firewall, or where a content policy forbids third-party scripts,
which is where this service is usually deployed.  The ``swagger-ui-bundle`` package ships the
same files; they are served under ``/docs/assets``.  ReDoc has no such package and is off.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

__all__ = ["DOCS_PATHS", "install_docs"]

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
DOCS_PATHS = (DOCS_URL, ASSETS_URL + "/*")  # metric labels


def install_docs(app: FastAPI) -> None:
    """Serve the Swagger UI page at ``/docs`` (the app must be made with ``docs_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a path-prefix proxy
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} — API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
        )
