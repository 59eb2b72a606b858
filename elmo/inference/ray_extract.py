"""``elmo embed --engine ray``: one corpus embedded by many processes or machines, resumably.

A corpus too large for one process is cut into shards of ``shard_lines`` lines by line id.  Each
shard is one Ray Data row; a pool of actors (:class:`ShardEmbedder`), each holding one
:class:`~elmo.inference.embedder.Embedder` loaded once, turns a shard into a Parquet file's
bytes.  The driver alone writes OUTPUT_DIR: every shard under a temporary name renamed into
place, then ``manifest.json`` listing it, so that a killed run leaves only whole shards behind,
a rerun with the same arguments skips them, and a multi-node run needs no shared filesystem
for its output.  Workers read their shard's byte range of the input themselves (a local path
every node can see, or any URI ``pyarrow.fs`` opens: ``s3://``, ``gs://``, ...): Ray Data's
text readers carry no line number, and resuming by line id needs one.

A line's vectors are those of ``elmo embed`` bit for bit: both parse a line with
:func:`~elmo.inference.extract.parse_line` and embed it with
:func:`~elmo.inference.extract.embed_lines`, and a sentence's vectors do not depend on what it
is batched with (:mod:`elmo.nn.tiles`), so shards, worker counts and batch budgets change speed
only.  That is also why the batch sizes are not among the arguments a resumed run must repeat.

Each shard's Parquet rows: ``line`` (int64, 0-based line id), ``text``, ``tokens``
(list<string>), ``offsets`` (list of ``[start, end)`` character offsets into ``text``; null for
pre-tokenized lines) and ``vectors``: float32, ``[L][n][2D]`` nested lists for all layers,
``[n][2D]`` for ``top``/``average``; :func:`iter_embeddings` reads them back as arrays.
Ray is imported only when this engine runs: the library works without it.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from elmo.config import differences, to_dict
from elmo.errors import ExtractError
from elmo.inference.embedder import Embedder, Embedding
from elmo.inference.extract import InputLine, embed_lines, parse_line
from elmo.io.bundle import load_config, resolve_model_path
from elmo.io.registry import sha256_file

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MANIFEST", "ShardEmbedder", "extract_ray", "iter_embeddings"]

MANIFEST = "manifest.json"
FORMAT = "elmo-embed-ray/1"
INSTALL_HINT = "pip install '.[ray]'"
_SHARD = re.compile(r"shard-\d{5,}\.parquet")
_MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.model",
    "options.json",
    "weights.hdf5",
)


@dataclass(frozen=True)
class Shard:
    """Lines ``[start, stop)`` of the input, bytes ``[offset, offset + length)``."""

    index: int
    start: int
    stop: int
    offset: int
    length: int

    @property
    def file(self) -> str:
        return f"shard-{self.index:05d}.parquet"


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # the extra's part: plain ray lacks pyarrow
    except ImportError:
        raise ExtractError(
            f"--engine ray needs Ray Data, which is not installed: {INSTALL_HINT}"
        ) from None
    return ray


def _open_input(source: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path in it)``: a plain path is local, made absolute so that
    workers started elsewhere find it."""
    from pyarrow import fs

    if "://" in source:
        try:
            return fs.FileSystem.from_uri(source)
        except (OSError, ValueError) as exc:
            raise ExtractError(f"{source}: cannot open: {exc}") from None
    return fs.LocalFileSystem(), str(Path(source).resolve())


def plan_shards(source: str, shard_lines: int) -> tuple[list[Shard], int, int]:
    """``(shards, lines, bytes)`` from one pass over the input: the byte offset of every
    ``shard_lines``-th line, so that a worker reads its lines and nothing else.  Lines end at
    ``\\n`` as in :func:`~elmo.inference.extract.read_input`."""
    filesystem, path = _open_input(source)
    offsets = [0]  # byte offset of each shard's first line
    lines = size = 0
    last = b""
    try:
        with filesystem.open_input_stream(path) as handle:
            while block := handle.read(1 << 20):
                position = 0
                while (found := block.find(b"\n", position)) >= 0:
                    lines += 1
                    position = found + 1
                    if lines % shard_lines == 0:
                        offsets.append(size + position)
                size += len(block)
                last = block[-1:]
    except (OSError, FileNotFoundError) as exc:
        raise ExtractError(f"{source}: cannot read: {exc}") from None
    if size and last != b"\n":
        lines += 1  # a last line without its end of line
    if offsets[-1] < size or not lines:
        offsets.append(size)
    shards = [
        Shard(i, i * shard_lines, min((i + 1) * shard_lines, lines), a, b - a)
        for i, (a, b) in enumerate(itertools.pairwise(offsets))
    ]
    return [s for s in shards if s.stop > s.start], lines, size


def _model_record(model: str) -> tuple[str, dict[str, Any]]:
    """The resolved model directory and what a resumed run must match: the checksums of its
    files and its configuration."""
    path = resolve_model_path(model).resolve()
    config = load_config(path)  # checks the directory without reading weights
    files = {name: sha256_file(path / name) for name in _MODEL_FILES if (path / name).is_file()}
    return str(path), {"sha256": files, "config": to_dict(config)}


class ShardEmbedder:
    """A Ray actor's work: load the model once, then turn each shard into Parquet bytes.

    Lines go to the model in groups of at most ``batch_tokens`` tokens, longest first (fewer
    padded steps); the grouping changes no vector.  A bad line comes back as the row's
    ``error`` (``file:line: ...``) rather than an exception, so that the driver reports it as
    ``elmo embed`` does instead of as a remote traceback.
    """

    def __init__(
        self,
        model: str,
        source: str,
        layers: str,
        pretokenized: bool,
        batch_size: int,
        batch_tokens: int,
        device: str,
    ) -> None:
        self.embedder = Embedder.from_pretrained(model, batch_size=batch_size, device=device)
        self.source, self.pretokenized = source, pretokenized
        self.mix = None if layers == "all" else layers
        self.batch_tokens = batch_tokens
        self.jsonl = source.endswith(".jsonl")

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        results: dict[str, list[Any]] = {"shard": [], "parquet": [], "rows": [], "tokens": []}
        results["error"] = []
        for spec in batch.to_pylist():
            shard = Shard(**spec)
            try:
                data, tokens = self.embed_shard(shard)
                error = None
            except ExtractError as exc:
                data, tokens, error = b"", 0, str(exc)
            for key, value in zip(
                results, (shard.index, data, shard.stop - shard.start, tokens, error), strict=True
            ):
                results[key].append(value)
        return pa.table(
            {
                "shard": pa.array(results["shard"], pa.int64()),
                "parquet": pa.array(results["parquet"], pa.large_binary()),
                "rows": pa.array(results["rows"], pa.int64()),
                "tokens": pa.array(results["tokens"], pa.int64()),
                "error": pa.array(results["error"], pa.string()),
            }
        )

    def embed_shard(self, shard: Shard) -> tuple[bytes, int]:
        """``(Parquet file bytes, token count)`` of one shard."""
        import pyarrow.parquet as pq

        lines = self.read(shard)
        results: list[Embedding | None] = [None] * len(lines)
        for group in self.groups(lines):
            done = embed_lines(self.embedder, [lines[i] for i in group], self.mix, self.source)
            for i, result in zip(group, done, strict=True):
                results[i] = result
        embeddings = [r for r in results if r is not None]
        assert len(embeddings) == len(lines)  # every line is in one group
        sink = io.BytesIO()
        pq.write_table(shard_table(lines, embeddings, self.embedder.dim), sink)
        return sink.getvalue(), sum(len(e.tokens) for e in embeddings)

    def read(self, shard: Shard) -> list[InputLine]:
        filesystem, path = _open_input(self.source)
        try:
            with filesystem.open_input_file(path) as handle:
                handle.seek(shard.offset)
                data = handle.read(shard.length)
        except OSError as exc:
            raise ExtractError(f"{self.source}: cannot read: {exc}") from None
        # BytesIO iterates lines at b"\n" as a file does, so lines split as in read_input
        raws = list(io.BytesIO(data))
        if len(raws) != shard.stop - shard.start:
            raise ExtractError(f"{self.source}: changed while it was being embedded")
        return [
            parse_line(raw, index, self.jsonl, self.pretokenized, f"{self.source}:{index + 1}")
            for index, raw in enumerate(raws, start=shard.start)
        ]

    def groups(self, lines: Sequence[InputLine]) -> Iterator[list[int]]:
        """Positions of ``lines`` in groups of at most ``batch_tokens`` tokens (a longer line
        alone), longest first.  Whitespace-separated words stand in for the tokens: a budget
        needs no exact count."""
        sizes = [len(x.tokens) if x.tokens is not None else len(x.text.split()) for x in lines]
        group: list[int] = []
        total = 0
        for i in sorted(range(len(lines)), key=lambda i: -sizes[i]):
            if group and total + sizes[i] > self.batch_tokens:
                yield group
                group, total = [], 0
            group.append(i)
            total += sizes[i]
        if group:
            yield group


def shard_table(lines: Sequence[InputLine], embeddings: Sequence[Embedding], dim: int) -> pa.Table:
    """One shard's rows as an Arrow table (columns in the module docstring)."""
    import pyarrow as pa

    arrays = [np.ascontiguousarray(e.vectors, dtype=np.float32) for e in embeddings]
    values = pa.array(
        np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, np.float32)
    )
    vectors: pa.Array = pa.FixedSizeListArray.from_arrays(values, dim)  # (Σ tokens [× L], 2D)
    counts = [len(e.tokens) for e in embeddings]
    if arrays and arrays[0].ndim == 3:  # all layers: each row [L, n, 2D]
        per_layer = [n for a, n in zip(arrays, counts, strict=True) for _ in range(a.shape[0])]
        vectors = pa.ListArray.from_arrays(_offsets(per_layer), vectors)  # (Σ L, n, 2D)
        counts = [a.shape[0] for a in arrays]
    vectors = pa.ListArray.from_arrays(_offsets(counts), vectors)  # (rows, [L,] n, 2D)
    offsets = [
        [list(pair) for pair in e.offsets] if e.offsets is not None else None for e in embeddings
    ]
    return pa.table(
        {
            "line": pa.array([x.index for x in lines], pa.int64()),
            "text": pa.array([x.text for x in lines], pa.string()),
            "tokens": pa.array([e.tokens for e in embeddings], pa.list_(pa.string())),
            "offsets": pa.array(offsets, pa.list_(pa.list_(pa.int32()))),
            "vectors": vectors,
        }
    )


def _offsets(counts: Sequence[int]) -> pa.Array:
    import pyarrow as pa

    return pa.array(np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int32))


def iter_embeddings(output: str | Path) -> Iterator[tuple[int, list[str], np.ndarray]]:
    """``(line, tokens, vectors)`` for every line of a finished OUTPUT_DIR, in line order;
    ``vectors``: ``[L, n, 2D]`` or ``[n, 2D]`` float32, as ``elmo embed`` writes them."""
    import pyarrow.parquet as pq

    output = Path(output)
    manifest = _read_manifest(output)
    if manifest is None:
        raise ExtractError(f"{output}: no {MANIFEST}")
    dim = manifest["vectors"]["shape"][-1]
    for record in sorted(manifest["shards"], key=lambda s: s["lines"][0]):
        table = pq.read_table(output / record["file"])
        values = table.column("vectors").combine_chunks()
        layered = len(manifest["vectors"]["shape"]) == 3
        flat = values.flatten().flatten().flatten() if layered else values.flatten().flatten()
        floats = flat.to_numpy(zero_copy_only=False)  # (Σ [L ×] n × 2D,)
        position = 0
        for line, tokens in zip(
            table.column("line").to_pylist(), table.column("tokens").to_pylist(), strict=True
        ):
            shape = (
                (manifest["vectors"]["shape"][0], len(tokens), dim)
                if layered
                else (len(tokens), dim)
            )
            size = int(np.prod(shape))
            yield line, tokens, floats[position : position + size].reshape(shape)
            position += size


def _read_manifest(output: Path) -> dict[str, Any] | None:
    path = output / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ExtractError(f"{path}: unreadable ({exc}); pass --force to start over") from None
    if manifest.get("format") != FORMAT:
        raise ExtractError(f"{path}: not a manifest of elmo embed --engine ray")
    return manifest


def _write_manifest(output: Path, manifest: dict[str, Any]) -> None:
    manifest["shards"].sort(key=lambda s: s["lines"][0])
    tmp = output / f".{MANIFEST}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, output / MANIFEST)


def _atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def _ours(path: Path) -> bool:
    """Files this engine writes in OUTPUT_DIR (``--force`` removes these and nothing else)."""
    name = path.name
    return (
        name == MANIFEST
        or bool(_SHARD.fullmatch(name))
        or (
            name.startswith(".")
            and ".tmp" in name
            and (name[1:].startswith("shard-") or name[1:].startswith(MANIFEST))
        )
    )


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [
        f"{key}: {json.dumps(a)} then, {json.dumps(b)} now" for key, a, b in differences(old, new)
    ]


def extract_ray(
    source: str,
    output: Path,
    model: str = "default",
    output_layers: str = "all",
    pretokenized: bool = False,
    force: bool = False,
    progress: bool = True,
    address: str | None = None,
    shard_lines: int = 10_000,
    num_workers: int = 1,
    batch_size: int = 64,
    batch_tokens: int = 4096,
    device: str = "cpu",
) -> tuple[int, int]:
    """Embed ``source`` into the directory ``output``; returns ``(lines, shards embedded now)``.

    ``address``: a running Ray cluster (``HEAD:6379``, ``auto``); None starts a local one
    unless this process is already connected.  A rerun skips the shards the manifest lists
    and refuses when the arguments that shape the vectors differ; ``force`` starts over.
    """
    if output_layers not in ("all", "top", "average"):
        raise ExtractError(f"output layers must be all, top or average, got {output_layers!r}")
    for name, value in (
        ("--shard-lines", shard_lines),
        ("--num-workers", num_workers),
        ("--batch-size", batch_size),
        ("--batch-tokens", batch_tokens),
    ):
        if value < 1:
            raise ExtractError(f"{name} must be >= 1, got {value}")
    ray = _import_ray()
    if output.exists() and not output.is_dir():
        raise ExtractError(f"{output}: exists and is not a directory (--engine ray writes one)")
    if not output.parent.is_dir():
        raise ExtractError(f"{output}: the directory {output.parent} does not exist")
    model_path, model_record = _model_record(model)
    config = load_config(model_path)
    layers, dim = config.num_output_layers, config.output_dim
    shards, lines, size = plan_shards(source, shard_lines)
    where = source if "://" in source else str(Path(source).resolve())
    settings = {
        "input": {"path": where, "bytes": size, "lines": lines},
        "model": model_record,
        "layers": output_layers,
        "pretokenized": pretokenized,
        "shard_lines": shard_lines,
        "device": _device_type(device),
    }
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "model_name": model,
        "model_path": model_path,
        "settings": settings,
        "vectors": {
            "dtype": "float32",
            "shape": [layers, "tokens", dim] if output_layers == "all" else ["tokens", dim],
        },
        "shards": [],
    }
    output.mkdir(exist_ok=True)
    previous = None if force else _read_manifest(output)
    if force:
        for path in output.iterdir():
            if _ours(path):
                path.unlink()
    elif previous is None and any(output.iterdir()):
        raise ExtractError(
            f"{output}: holds files but no {MANIFEST}; pass --force or name an empty directory"
        )
    if previous is not None:
        differences = _differences(previous["settings"], settings)
        if differences:
            raise ExtractError(
                f"{output}: made with other arguments ({'; '.join(differences)}); rerun with "
                "the same ones to resume, or pass --force to start over"
            )
        manifest["shards"] = [s for s in previous["shards"] if (output / s["file"]).is_file()]
    done = {s["file"] for s in manifest["shards"]}
    pending = [s for s in shards if s.file not in done]
    _write_manifest(output, manifest)
    if not pending:
        return lines, 0

    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"address": address, "log_to_driver": progress}
        if address is None:
            options["include_dashboard"] = False
        ray.init(**options)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        gpu = _device_type(device) == "cuda"
        dataset = ray.data.from_items([s.__dict__ for s in pending]).map_batches(
            ShardEmbedder,
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=min(num_workers, len(pending))),
            num_cpus=0 if gpu else 1,
            num_gpus=1 if gpu else 0,
            fn_constructor_kwargs={
                "model": model_path,
                "source": where,
                "layers": output_layers,
                "pretokenized": pretokenized,
                "batch_size": batch_size,
                "batch_tokens": batch_tokens,
                "device": device,
            },
        )
        by_index = {s.index: s for s in pending}
        for row in dataset.iter_rows():
            if row["error"] is not None:
                raise ExtractError(row["error"])
            shard = by_index[row["shard"]]
            _atomic_bytes(output / shard.file, row["parquet"])
            manifest["shards"].append(
                {
                    "file": shard.file,
                    "lines": [shard.start, shard.stop],
                    "rows": row["rows"],
                    "tokens": row["tokens"],
                }
            )
            _write_manifest(output, manifest)
    finally:
        if started:
            ray.shutdown()
    return lines, len(pending)


def _device_type(device: str) -> str:
    """What changes the vectors' bits: the kind of device, not which one of them."""
    return device.split(":", 1)[0]
