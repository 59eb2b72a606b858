"""Labelled files for task models, read whole and checked line by line.

Task files are small (thousands of lines), so they are read into memory: training visits them
every epoch, and a bad line should stop the run before the first epoch, not in the middle of
one.  Every problem names ``file:line`` so that it can be fixed in an editor.  Raw text is split
with :func:`elmo.tokenization.pre_tokenize`, as ``elmo embed`` splits it, so that a model sees
the same words at training and at prediction time.

Formats, chosen by the file's extension (``.jsonl``: JSON lines; anything else: text):

- classify: ``label<TAB>text`` a line, or JSONL ``{"text": ..., "label": ...}`` (``"tokens"``
  instead of ``"text"`` for pre-tokenized input);
- tag: CoNLL-style ``token<TAB>tag`` (or ``token tag``) a line with a blank line between
  sentences (``-DOCSTART-`` lines are skipped), or JSONL ``{"tokens": [...], "tags": [...]}``.

Blank lines between examples are skipped in every format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from elmo.errors import InvalidInputError
from elmo.nn.chars import check_text
from elmo.tokenization import pre_tokenize

__all__ = ["TASKS", "Dataset", "Example", "TaskKind", "read_dataset", "read_inputs"]

TaskKind = Literal["classify", "tag"]
TASKS: tuple[TaskKind, ...] = ("classify", "tag")


@dataclass(frozen=True)
class Example:
    """One sentence; ``label`` for classification, ``tags`` (one per token) for tagging.
    ``line`` is where it starts in its file, for messages about it found later (an unknown
    label in a validation file)."""

    tokens: list[str]
    line: int
    label: str | None = None
    tags: list[str] | None = None


@dataclass(frozen=True)
class Dataset:
    """A file's examples and what the task card says of it."""

    path: Path
    lines: int
    examples: list[Example]


def read_dataset(path: str | Path, task: TaskKind) -> Dataset:
    """Every example of a labelled file; a bad line raises :class:`InvalidInputError`."""
    path = Path(path)
    lines = _read_lines(path)
    jsonl = path.suffix.lower() == ".jsonl"
    if task == "classify":
        parse = _json_classify if jsonl else _tsv_classify
        examples = [parse(line, f"{path}:{n}", n) for n, line in lines if line.strip()]
    elif task == "tag":
        if jsonl:
            examples = [_json_tag(line, f"{path}:{n}", n) for n, line in lines if line.strip()]
        else:
            examples = list(_conll(lines, path))
    else:
        raise InvalidInputError(f"unknown task {task!r}; choose from {list(TASKS)}")
    if not examples:
        raise InvalidInputError(f"{path}: no examples")
    return Dataset(path, len(lines), examples)


def read_inputs(path: str | Path, data: bytes | None = None) -> list[tuple[int, list[str]]]:
    """``(line, tokens)`` of the sentences to predict: a text file, one sentence a line, or
    JSONL lines that are a string, a token list, or an object with ``"text"`` or ``"tokens"``
    (labels in it are ignored, so that a labelled file can be predicted as it is).  ``data``:
    the file's bytes when they do not come from ``path`` (standard input, named ``<stdin>``)."""
    name = Path(path)
    lines = _read_lines(name) if data is None else _decode(data, name)
    jsonl = name.suffix.lower() == ".jsonl"
    found = []
    for n, line in lines:
        if not line.strip():
            continue
        where = f"{name}:{n}"
        if not jsonl:
            found.append((n, _split(line, where)))
            continue
        value = _json(line, where)
        if isinstance(value, dict):
            value = value["tokens"] if "tokens" in value else value.get("text")
        if isinstance(value, str):
            found.append((n, _split(value, where)))
        elif isinstance(value, list):
            found.append((n, _token_list(value, where, "tokens")))
        else:
            raise InvalidInputError(
                f'{where}: expected a string, a token list, or an object with "text" or "tokens"'
            )
    return found


def _read_lines(path: Path) -> list[tuple[int, str]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _decode(data, path)


def _decode(data: bytes, path: Path) -> list[tuple[int, str]]:
    """Numbered lines; a byte-order mark (Windows editors write one) is not text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInputError(f"{path}:{line}: not valid UTF-8 ({exc.reason})") from None
    # split on "\n" only, as editors and the UTF-8 error's count do (splitlines also splits
    # on U+2028 and form feeds, and the line numbers would drift)
    lines = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
    if lines and not lines[-1]:
        lines.pop()
    return list(enumerate(lines, start=1))


def _split(text: str, where: str) -> list[str]:
    try:
        tokens = [w.text for w in pre_tokenize(text)]
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    if not tokens:
        raise InvalidInputError(f"{where}: empty text")
    return tokens


def _tsv_classify(line: str, where: str, n: int) -> Example:
    fields = line.split("\t")
    if len(fields) != 2:
        raise InvalidInputError(
            f"{where}: expected 2 tab-separated columns (label, text), found {len(fields)}"
        )
    label = fields[0].strip()
    if not label:
        raise InvalidInputError(f"{where}: empty label")
    return Example(_split(fields[1], where), n, label=label)


def _json(line: str, where: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid JSON ({exc.msg})") from None


def _object(line: str, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    value = _json(line, where)
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise InvalidInputError(f"{where}: missing key(s) {missing}")
    return value


def _token_list(value: Any, where: str, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise InvalidInputError(f'{where}: "{key}" must be a list of non-empty strings')
    if not value:
        raise InvalidInputError(f'{where}: "{key}" is empty')
    try:
        for token in value:
            check_text(token, f'"{key}"')
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    return [t.strip() for t in value]


def _json_classify(line: str, where: str, n: int) -> Example:
    value = _object(line, where, ("label",))
    label = value["label"]
    if not isinstance(label, str) or not label.strip():
        raise InvalidInputError(f'{where}: "label" must be a non-empty string')
    if "tokens" in value:
        tokens = _token_list(value["tokens"], where, "tokens")
    elif isinstance(value.get("text"), str):
        tokens = _split(value["text"], where)
    else:
        raise InvalidInputError(f'{where}: expected "text" (a string) or "tokens" (a list)')
    return Example(tokens, n, label=label.strip())


def _json_tag(line: str, where: str, n: int) -> Example:
    value = _object(line, where, ("tokens", "tags"))
    tokens = _token_list(value["tokens"], where, "tokens")
    tags = _token_list(value["tags"], where, "tags")
    if len(tokens) != len(tags):
        raise InvalidInputError(f"{where}: {len(tokens)} tokens but {len(tags)} tags")
    return Example(tokens, n, tags=tags)


def _conll(lines: list[tuple[int, str]], path: Path) -> Iterator[Example]:
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    for n, line in lines:
        if line.startswith("-DOCSTART-"):
            continue
        if not line.strip():
            if tokens:
                yield Example(tokens, start, tags=tags)
            tokens, tags = [], []
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if len(fields) != 2 or not all(fields):
            raise InvalidInputError(
                f"{path}:{n}: expected 2 columns (token, tag) separated by a tab or a space, "
                f"found {len([f for f in fields if f])}"
            )
        if not tokens:
            start = n
        tokens.append(fields[0])
        tags.append(fields[1])
    if tokens:
        yield Example(tokens, start, tags=tags)
