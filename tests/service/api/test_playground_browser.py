"""``/playground`` in a real headless Chromium against a real uvicorn server: the page asks the
API, draws the per-layer chart with the cosines the API's vectors give, and shows the API's
errors (a wrong key, a refused request) and its own (a word not in a sentence) to the person.

Needs Playwright (``pip install '.[browser]'``) and the system's chromium (``apt-get install
chromium``; Playwright's own browser download is not used).  Without them the tests skip,
unless ``ELMO_REQUIRE_BROWSER=1`` (CI, once it installed them), where they fail.
``ELMO_PLAYGROUND_SCREENSHOT=1`` saves the rendered page to /tmp/playground.png.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from elmo.inference.embedder import Embedder
from service.app import create_app
from service.core.settings import Settings

REQUIRED = os.environ.get("ELMO_REQUIRE_BROWSER") == "1"
SCREENSHOT = Path("/tmp/playground.png")
SENTENCES = ["el gato come pescado", "levanté el auto con el gato"]
TIMEOUT_MS = 30_000


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"ELMO_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


class ThreadServer:
    """uvicorn on a free port of 127.0.0.1, in a thread of this process (the session's model,
    no second load); the lifespan runs as under ``elmo serve``."""

    def __init__(self, app: Any):
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("uvicorn did not start")
            time.sleep(0.05)
        (socket,) = self.server.servers[0].sockets
        self.url = f"http://127.0.0.1:{socket.getsockname()[1]}"
        while httpx.get(f"{self.url}/ready", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise AssertionError("the model did not get ready")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextlib.contextmanager
def serving(embedder: Embedder, **settings: Any) -> Iterator[ThreadServer]:
    server = ThreadServer(create_app(Settings(**settings), embedder=embedder))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install '.[browser]'")
    executable = chromium_path()
    if executable is None:
        _unavailable("no chromium binary: apt-get install chromium")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            )
        except Exception as exc:  # a chromium that does not start here
            _unavailable(f"chromium at {executable} did not start: {exc}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def open_server(embedder: Embedder) -> Iterator[ThreadServer]:
    with serving(embedder) as server:
        yield server


@pytest.fixture(scope="module")
def keyed_server(embedder: Embedder) -> Iterator[ThreadServer]:
    with serving(embedder, api_key="s3cret", max_inputs=2, queue_size=8) as server:
        yield server


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 1400})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []
    opened.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith("http://127.0.0.1:") else None,
    )
    yield opened
    context.close()
    assert not outside, f"the page asked outside the server: {outside}"


def expected_cosines(url: str, headers: dict[str, str] | None = None) -> list[float]:
    """The word's cosine per layer, from the API's own vectors (what the page must show)."""
    body = {"inputs": SENTENCES, "layers": "all"}
    data = httpx.post(f"{url}/v1/embed", json=body, headers=headers, timeout=30).json()["data"]
    a = np.asarray(data[0]["embeddings"])[:, data[0]["tokens"].index("gato")]
    b = np.asarray(data[1]["embeddings"])[:, data[1]["tokens"].index("gato")]
    return list((a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1))


def compare(page: Any) -> None:
    page.evaluate("() => { document.body.dataset.state = '' }")
    page.click("#run")
    page.wait_for_selector("body[data-state=done]", state="attached")


def error_text(page: Any) -> str:
    page.wait_for_selector("#error", state="visible")
    return str(page.inner_text("#error"))


def test_a_query_draws_one_bar_a_layer_with_the_apis_cosines(page, open_server, embedder):
    page.goto(f"{open_server.url}/")  # the root leads to the playground
    assert page.url == f"{open_server.url}/playground"
    assert page.title() == "ELMo playground"
    inputs = page.locator("#sentences input")
    assert [inputs.nth(i).input_value() for i in range(inputs.count())] == SENTENCES
    assert page.input_value("#word") == "gato"
    compare(page)
    assert page.is_hidden("#error")
    page.wait_for_selector("#results", state="visible")
    bars = page.locator("#chart-svg rect.bar")
    assert bars.count() == embedder.num_layers
    assert [bars.nth(k).get_attribute("data-layer") for k in range(bars.count())] == [
        str(k) for k in range(embedder.num_layers)
    ]
    shown = [float(t) for t in page.locator("#cosines tbody td.num").all_inner_texts()]
    np.testing.assert_allclose(shown, expected_cosines(open_server.url), atol=1e-4)
    labels = page.locator("#chart-svg text.value").all_text_contents()
    assert [float(t) for t in labels] == pytest.approx(shown, abs=1e-3)
    tokens = page.locator("#tokens .tokens")
    assert tokens.count() == 2
    assert tokens.nth(1).locator(".token").all_inner_texts() == SENTENCES[1].split()
    assert tokens.nth(0).locator(".token.target").inner_text() == "gato"
    # every other word of both sentences, best first; layer 0 has no context: the other
    # "gato" is the same vector there
    rows = page.locator("#neighbours tbody tr")
    assert rows.count() == len(SENTENCES[0].split()) + len(SENTENCES[1].split()) - 1
    page.select_option("#layer", "0")
    first = page.locator("#neighbours tbody tr").first.locator("td").all_inner_texts()
    assert first[1:3] == ["gato", "2"] and float(first[3]) == pytest.approx(1.0, abs=1e-4)
    page.select_option("#layer", str(embedder.num_layers - 1))
    if os.environ.get("ELMO_PLAYGROUND_SCREENSHOT"):
        page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_word_not_in_a_sentence_is_shown_as_an_error(page, open_server):
    page.goto(f"{open_server.url}/playground")
    page.fill("#word", "perro")
    compare(page)
    message = error_text(page)
    assert 'the word "perro" is not in sentence 1' in message and "sentence 2" in message
    assert page.locator("#chart-svg rect.bar").count() == 0
    assert page.locator("#tokens .tokens").count() == 2  # the tokens say why


def test_the_api_key_errors_of_the_api_reach_the_person(page, keyed_server, embedder):
    page.goto(f"{keyed_server.url}/playground")  # open: the page carries no secret
    compare(page)
    assert "401: missing API key" in error_text(page)
    page.fill("#api-key", "wrong")
    compare(page)
    assert "401: invalid API key in the Authorization header" in error_text(page)
    assert page.locator("#chart-svg rect.bar").count() == 0
    page.fill("#api-key", "s3cret")
    compare(page)
    assert page.is_hidden("#error")
    assert page.locator("#chart-svg rect.bar").count() == embedder.num_layers
    # kept for this tab only, and sent as a bearer token
    storage = page.evaluate("() => [sessionStorage.length, localStorage.length]")
    assert storage == [1, 0]
    page.reload()
    assert page.input_value("#api-key") == "s3cret"


def test_a_request_the_api_refuses_shows_its_message(page, keyed_server):
    page.goto(f"{keyed_server.url}/playground")
    page.fill("#api-key", "s3cret")
    page.click("#add-sentence")
    page.fill("#sentence-3", "el perro duerme")
    compare(page)
    message = error_text(page)
    assert message.startswith("400: ") and "max_inputs=2" in message, message
