"""Fetching pinned packages: unpacking, the fetched record, the cache, unsafe archives."""

import io
import tarfile
import zipfile

import pytest

from elmo.io import registry
from elmo.io.registry import FetchError, Package, fetch, fetched_record, format_size

PACKAGE = Package("npm", "@scope/data", "1.0.0", "CC0")


def _fake_download(archive_name: str, build, calls: list):
    def download(package, workdir):
        calls.append(package)
        path = workdir / archive_name
        build(path)
        return path

    return download


def _tgz(path):
    with tarfile.open(path, "w:gz") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("package/data.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_fetch_unpacks_once_and_records_the_archive_hash(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(registry, "_download", _fake_download("data-1.0.0.tgz", _tgz, calls))
    first = fetch(PACKAGE, tmp_path)
    assert first == tmp_path / "npm" / "scope__data-1.0.0"
    assert (first / "package" / "data.txt").read_text() == "hello\n"
    record = fetched_record(first)
    assert record["name"] == "@scope/data" and record["licence"] == "CC0"
    assert len(record["sha256"]) == 64 and record["archive"] == "data-1.0.0.tgz"
    assert fetch(PACKAGE, tmp_path) == first and len(calls) == 1  # cached: no second download


def test_an_archive_member_escaping_the_target_is_refused(tmp_path, monkeypatch):
    def evil_zip(path):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("../../escape.txt", "x")

    monkeypatch.setattr(registry, "_download", _fake_download("x-1.0.whl", evil_zip, []))
    with pytest.raises(FetchError, match="unsafe member path"):
        fetch(Package("pypi", "x", "1.0", "MIT"), tmp_path / "cache")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "cache" / "pypi" / "x-1.0").exists()


def test_a_missing_tool_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on the path
    with pytest.raises(FetchError, match="npm is not installed"):
        fetch(PACKAGE, tmp_path / "cache")


def test_fetch_says_what_it_downloads_before_and_what_came_after(tmp_path, monkeypatch):
    heard: list[str] = []

    def download(package, workdir):
        assert heard and "fetching" in heard[0]  # announced before any byte is fetched
        path = workdir / "data-1.0.0.tgz"
        _tgz(path)
        return path

    monkeypatch.setattr(registry, "_download", download)
    pinned = Package("npm", "@scope/data", "1.0.0", "CC0", archive_bytes=2_875_925)
    target = fetch(pinned, tmp_path, log=heard.append)
    assert (
        heard[0] == f"fetching npm @scope/data 1.0.0 (2.9 MB) from the npm registry into {target}"
    )
    assert heard[1].startswith("fetched data-1.0.0.tgz (") and "SHA-256" in heard[1]
    fetch(pinned, tmp_path, log=heard.append)
    assert len(heard) == 2  # a cached package is read silently


def test_an_archive_whose_hash_differs_from_the_pin_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_download", _fake_download("data-1.0.0.tgz", _tgz, []))
    pinned = Package("npm", "@scope/data", "1.0.0", "CC0", archive_sha256="0" * 64)
    with pytest.raises(FetchError, match="not the pinned 0000"):
        fetch(pinned, tmp_path)
    assert not (tmp_path / pinned.key).exists()


@pytest.mark.parametrize(
    "count, text",
    [(0, "0 B"), (999, "999 B"), (1_000, "1.0 kB"), (2_875_925, "2.9 MB"), (3 * 10**9, "3.0 GB")],
)
def test_sizes_are_printed_in_decimal_units(count, text):
    assert format_size(count) == text
