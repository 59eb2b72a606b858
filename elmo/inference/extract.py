"""Bulk feature extraction: a file of sentences → vectors in HDF5, NPZ or JSONL.

The HDF5 layout follows AllenNLP's ``elmo`` command: one dataset per input line keyed by the
line's 0-based index as a string, ``[L, n, 2D]`` (all layers) or ``[n, 2D]`` (top layer or the
average of all layers), and a ``sentence_to_index`` dataset holding a JSON map from sentence text
to key.  An empty line gives a dataset with 0 tokens.  Input is read and written a chunk at a
time (constant memory); the output is written under a temporary name and renamed at the end, so
a failure never leaves a partial OUTPUT behind.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from elmo.errors import ExtractError, InvalidInputError
from elmo.inference.embedder import Embedder, Embedding
from elmo.nn.chars import check_text

__all__ = [
    "FORMATS",
    "ExtractError",
    "InputLine",
    "embed_lines",
    "extract",
    "parse_line",
    "read_input",
]

FORMATS = {".hdf5": "hdf5", ".h5": "hdf5", ".npz": "npz", ".jsonl": "jsonl"}
_CHUNK = 512  # lines embedded and written together


@dataclass(frozen=True)
class InputLine:
    index: int
    text: str  # the line as given (JSONL: its "text", or the tokens joined by spaces)
    tokens: list[str] | None  # pre-tokenized input; None means tokenize ``text``


def read_input(path: Path, pretokenized: bool) -> Iterator[InputLine]:
    """Lines of a text file (one sentence each) or of a JSONL file."""
    jsonl = path.suffix == ".jsonl"
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ExtractError(f"{path}: cannot read: {exc}") from None
    with handle:
        for index, raw in enumerate(handle):
            yield parse_line(raw, index, jsonl, pretokenized, f"{path}:{index + 1}")


def parse_line(raw: bytes, index: int, jsonl: bool, pretokenized: bool, where: str) -> InputLine:
    """One line as read from a file, end of line included, so that an engine reading the file
    in pieces (:mod:`elmo.inference.ray_extract`) parses a line exactly as :func:`read_input`.

    ``where`` (``file:line``) starts the message of a bad line.
    """
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ExtractError(f"{where}: not valid UTF-8 ({exc.reason})") from None
    if jsonl:
        return _json_line(line, index, where)
    return InputLine(index, line, line.split() if pretokenized else None)


def _json_line(line: str, index: int, where: str) -> InputLine:
    try:
        value: Any = json.loads(line) if line.strip() else ""
    except json.JSONDecodeError as exc:
        raise ExtractError(f"{where}: not valid JSON ({exc.msg})") from None
    if isinstance(value, dict):
        value = value.get("tokens", value.get("text"))
    if isinstance(value, str):
        return InputLine(index, value, None)
    if isinstance(value, list) and all(isinstance(t, str) and t for t in value):
        return InputLine(index, " ".join(value), list(value))
    raise ExtractError(
        f'{where}: expected a string, a list of non-empty strings, or an object with "text" '
        'or "tokens"'
    )


def _chunks(lines: Iterator[InputLine]) -> Iterator[list[InputLine]]:
    chunk: list[InputLine] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def extract(
    embedder: Embedder,
    source: Path,
    output: Path,
    output_layers: str = "all",
    pretokenized: bool = False,
    force: bool = False,
    progress: bool = True,
) -> int:
    """Embed every line of ``source`` into ``output``; returns the number of lines written.

    ``output_layers``: ``all`` ([L, n, 2D]), ``top`` or ``average`` ([n, 2D]).
    """
    from tqdm import tqdm

    kind = FORMATS.get(output.suffix.lower())
    if kind is None:
        raise ExtractError(f"{output}: unknown output type; use one of {sorted(FORMATS)}")
    if output_layers not in ("all", "top", "average"):
        raise ExtractError(f"output layers must be all, top or average, got {output_layers!r}")
    if output.exists() and not force:
        raise ExtractError(f"{output}: exists; pass --force to overwrite it")
    if not source.is_file():
        raise ExtractError(f"{source}: no such file")
    if not output.parent.is_dir():
        raise ExtractError(f"{output}: the directory {output.parent} does not exist")
    _remove_stale_parts(output)
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}")
    mix = None if output_layers == "all" else output_layers
    written = 0
    try:
        with _Writer(kind, tmp) as write, tqdm(unit="sentence", disable=not progress) as bar:
            for chunk in _chunks(read_input(source, pretokenized)):
                results = embed_lines(embedder, chunk, mix, str(source))
                for line, result in zip(chunk, results, strict=True):
                    write(line, result.tokens, result.vectors)
                written += len(chunk)
                bar.update(len(chunk))
        os.replace(tmp, output)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
    return written


def embed_lines(
    embedder: Embedder, lines: Sequence[InputLine], mix: str | None, source: str
) -> list[Embedding]:
    """Each line's result, in order; a bad line raises :class:`ExtractError` naming
    ``source:line``.  Shared with the Ray engine so that both give a line the same vectors.

    ``mix``: None (all layers, ``[L, n, 2D]``), ``"top"`` or ``"average"`` (``[n, 2D]``).
    """
    inputs = [line.tokens if line.tokens is not None else line.text for line in lines]
    for line, item in zip(lines, inputs, strict=True):
        try:
            for text in [item] if isinstance(item, str) else item:
                check_text(text, "the line")
        except InvalidInputError as exc:
            raise ExtractError(f"{source}:{line.index + 1}: {exc}") from None
    try:
        return _embed(embedder, inputs, mix)
    except InvalidInputError as exc:
        where = f"{source}:{lines[0].index + 1}-{lines[-1].index + 1}"
        raise ExtractError(f"{where}: {exc}") from None


def _remove_stale_parts(output: Path) -> None:
    """Remove the partial files of earlier runs into ``output`` whose process is gone (killed
    before it could clean up); a running one's stays."""
    for part in output.parent.glob(f".{output.name}.tmp*"):
        pid = part.name.rsplit(".tmp", 1)[1]
        if pid.isdigit() and not _running(int(pid)):
            with suppress(OSError):
                part.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _embed(embedder: Embedder, inputs: list, mix: str | None) -> list[Embedding]:
    """Raw lines and token lists may mix in one JSONL chunk: embed each kind, keep the order."""
    results: list = [None] * len(inputs)
    for want_text in (True, False):
        positions = [i for i, x in enumerate(inputs) if isinstance(x, str) == want_text]
        if positions:
            done = embedder.embed([inputs[i] for i in positions], mix=mix)
            for i, result in zip(positions, done, strict=True):
                results[i] = result
    return results


class _Writer:
    """Context manager yielding ``write(line, tokens, vectors)`` for one output format."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind, self.path = kind, path
        self.sentence_to_index: dict[str, str] = {}

    def __enter__(self):
        if self.kind == "hdf5":
            import h5py

            self.handle = h5py.File(self.path, "w")
        elif self.kind == "npz":
            self.handle = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_STORED)
        else:
            self.handle = self.path.open("w", encoding="utf-8")
        return self.write

    def write(self, line: InputLine, tokens: list[str], vectors: np.ndarray) -> None:
        key = str(line.index)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.kind == "hdf5":
            self.handle.create_dataset(key, data=vectors)
            self.sentence_to_index[line.text] = key
        elif self.kind == "npz":
            with self.handle.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, vectors, allow_pickle=False)
        else:
            # The shape as well: nested lists lose it for an empty line ((3, 0, dim) reads back
            # as [[], [], []]), and a reader rebuilds the array with one reshape.
            record = {"index": line.index, "text": line.text, "tokens": tokens}
            record["shape"] = list(vectors.shape)
            record["vectors"] = vectors.tolist()
            self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.kind == "hdf5" and exc_type is None:
            self.handle.create_dataset(
                "sentence_to_index", data=json.dumps(self.sentence_to_index, ensure_ascii=False)
            )
        self.handle.close()
