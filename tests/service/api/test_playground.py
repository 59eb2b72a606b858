"""``/playground``: the page and its assets come from the package, need no API key, name no
outside URL, and work behind a path-prefix proxy; ``/`` leads there."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from service.api.playground import STATIC_DIR

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[3]
KEY = {"Authorization": "Bearer s3cret"}


def asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


async def test_the_page_and_its_assets_are_served_with_their_content_types(serve_app):
    async with serve_app() as (client, _):
        page = await client.get("/playground")
        urls = asset_urls(page.text)
        # as the browser resolves them: relative to the page's own address
        assets = {u: await client.get(urljoin("http://test/playground", u)) for u in urls}
        metrics = (await client.get("/metrics")).text
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert sorted(urls) == ["playground/assets/playground.css", "playground/assets/playground.js"]
    kinds = {u: r.headers["content-type"].split(";")[0] for u, r in assets.items()}
    assert kinds == {
        "playground/assets/playground.css": "text/css",
        "playground/assets/playground.js": "text/javascript",
    }
    assert all(r.status_code == 200 and r.content for r in assets.values())
    assert 'route="/playground",status="200"' in metrics
    assert 'route="/playground/assets/*",status="200"' in metrics


def test_no_asset_names_an_outside_url():
    files = sorted(STATIC_DIR.iterdir())
    assert {f.suffix for f in files} == {".html", ".js", ".css"}
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), file.name


async def test_the_root_redirects_to_the_playground_relative_to_where_it_was_asked(serve_app):
    async with serve_app() as (client, _):
        root = await client.get("/")
        followed = await client.get("/", follow_redirects=True)
    assert root.status_code == 307 and root.headers["location"] == "playground"
    assert followed.status_code == 200 and str(followed.url) == "http://test/playground"


async def test_with_an_api_key_the_page_needs_none_but_the_api_still_does(serve_app):
    async with serve_app(api_key="s3cret") as (client, _):
        open_ = [await client.get(p) for p in ("/", "/playground")]
        open_ += [await client.get(f"/playground/assets/playground.{x}") for x in ("js", "css")]
        missing_asset = await client.get("/playground/assets/nothing.js")
        embed = await client.post("/v1/embed", json={"inputs": "a"})
        keyed = await client.post("/v1/embed", json={"inputs": "a"}, headers=KEY)
        near = [await client.get(p) for p in ("/playgroundx", "/playground/assetsx/a.js")]
        info = await client.get("/info")
    assert [r.status_code for r in open_] == [307, 200, 200, 200]
    assert missing_asset.status_code == 404  # open, but only the files that are there
    assert embed.status_code == 401 and embed.json()["error"]["code"] == "missing_api_key"
    assert keyed.status_code == 200
    assert [r.status_code for r in near] == [401, 401]  # the open paths are exact
    assert info.status_code == 401


async def test_the_address_with_a_trailing_slash_leads_to_the_page_without_a_key(serve_app):
    async with serve_app(api_key="s3cret") as (client, _):
        slash = await client.get("/playground/")
        followed = await client.get("/playground/", follow_redirects=True)
    assert slash.status_code in (307, 308), slash.text
    assert followed.status_code == 200 and str(followed.url) == "http://test/playground"
    assert followed.headers["content-type"].startswith("text/html")


async def test_behind_a_path_prefix_proxy_the_page_is_open_and_its_urls_stay_relative(serve_app):
    async with serve_app(api_key="s3cret") as (_, app):
        transport = httpx.ASGITransport(app=app, root_path="/elmo")
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            page = await client.get("/elmo/playground")
            script = await client.get("/elmo/playground/assets/playground.js")
            embed = await client.post("/elmo/v1/embed", json={"inputs": "a"})
            keyed = await client.post("/elmo/v1/embed", json={"inputs": "a"}, headers=KEY)
            metrics = (await client.get("/elmo/metrics", headers=KEY)).text
    assert page.status_code == 200 and script.status_code == 200
    # labelled by the app's routes, not "unmatched" for carrying the prefix
    assert 'route="/playground",status="200"' in metrics
    assert 'route="/v1/embed",status="200"' in metrics and "unmatched" not in metrics
    assert all(not u.startswith("/") for u in asset_urls(page.text))
    assert re.findall(r'post\("([^"]+)"', script.text) == ["v1/tokenize", "v1/embed"]
    assert embed.status_code == 401 and keyed.status_code == 200


async def test_the_playground_is_not_in_the_api_schema(serve_app):
    async with serve_app() as (client, _):
        schema = (await client.get("/openapi.json")).json()
    assert not {"/", "/playground"} & set(schema["paths"])
    assert not any(p.startswith("/playground") for p in schema["paths"])


def test_the_wheel_ships_the_static_files(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in ("elmo", "service"):
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for file in STATIC_DIR.iterdir():
        assert f"service/api/static/{file.name}" in names
