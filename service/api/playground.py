"""``/playground``: a page to try the embeddings by hand, served by the service itself.

The page is static HTML, JavaScript and CSS shipped in the package (``static/``), with no
framework, CDN or external font, for the same reason as ``/docs``: it must work offline and
under a strict content policy.  It calls only the public API (``/v1/tokenize``,
``/v1/embed``) with relative URLs, so it works unchanged behind a path-prefix proxy; it carries
no secret, so the middleware lets it through without the API key (the person types the key
into the page, which sends it as ``Authorization: Bearer``).  ``/`` redirects here: a person
who opens the server's address in a browser lands on something readable.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

__all__ = [
    "PLAYGROUND_ASSETS_URL",
    "PLAYGROUND_PATHS",
    "PLAYGROUND_URL",
    "STATIC_DIR",
    "install_playground",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
PLAYGROUND_URL = "/playground"
PLAYGROUND_ASSETS_URL = "/playground/assets"
PLAYGROUND_PATHS = ("/", PLAYGROUND_URL, PLAYGROUND_ASSETS_URL + "/*")  # metric labels


def install_playground(app: FastAPI) -> None:
    """Serve the page, its assets, and the redirect from ``/`` (kept out of the OpenAPI
    schema: they are not API, and contract fuzzers must not take them for it)."""
    app.mount(
        PLAYGROUND_ASSETS_URL, StaticFiles(directory=str(STATIC_DIR)), name="playground-assets"
    )

    @app.get(PLAYGROUND_URL, include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(STATIC_DIR / "playground.html", media_type="text/html")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        # relative: the browser resolves it against the address it used, proxy prefix included
        return RedirectResponse("playground", status_code=307)
