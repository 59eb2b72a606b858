"""Fetching pinned packages: unpacking, the fetched record, the cache, unsafe archives."""

import io
import tarfile
import zipfile

import pytest

from elmo.io import registry
from elmo.io.registry import FetchError, Package, fetch, fetched_record

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
