"""Training data: unit ids encoded once and memory-mapped, batches planned by length.

Every line is pre-tokenized, each word is encoded on its own into sentencepiece units, and the
line becomes one or more sequences ``<S> units </S>`` of at most ``max_units`` units (a long line
is cut into windows).  The flat unit ids and sequence offsets are written once to a cache
directory keyed by a hash of corpus, tokenizer and settings, and read back memory-mapped, so
training holds only the current batches in memory.

Batches are planned per epoch from ``(seed, epoch)`` alone: shuffle, sort pools of sequences by
length (an LSTM runs as many steps as the longest row), pack them under a token budget, shuffle
the batches, and group them into steps of ``micro_batches`` (data-parallel ranks × accumulation).
The plan is a pure function of its inputs, so a resumed or distributed run sees the same data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from elmo.nn.lm_head import NOT_PREDICTED
from elmo.tokenization import SentencePieceUnits, pre_tokenize
from elmo.training.corpus import CorpusError, CorpusStats, corpus_files, fingerprint, read_lines

__all__ = [
    "Batch",
    "EncodedCorpus",
    "encode_corpus",
    "is_encoded",
    "make_batch",
    "plan_epoch",
]

_CACHE_FORMAT = b"elmo-units-v2"
_ENCODING_FILE = "encoding.json"  # how a cache directory was made: format, tokenizer, max_units
_POOL = 4096  # sequences sorted together when packing batches by length


@dataclass
class EncodedCorpus:
    """Sequences ``units[starts[i]:ends[i]]``, each from ``<S>`` to ``</S>``; ``lines[i]`` is the
    corpus line a sequence comes from (a long line gives several windows)."""

    units: np.ndarray  # (N,) int32, memory-mapped
    starts: np.ndarray  # (S,) int64
    ends: np.ndarray  # (S,) int64
    lines: np.ndarray  # (S,) int64
    stats: CorpusStats
    key: str = ""  # the cache key: a hash of corpus, tokenizer and settings

    def __post_init__(self) -> None:
        self.lengths = self.ends - self.starts  # (S,), read several times per step

    def __len__(self) -> int:
        return len(self.starts)

    def select(self, indices: np.ndarray) -> EncodedCorpus:
        """The sequences ``indices`` (sharing the memory-mapped units)."""
        return EncodedCorpus(
            self.units,
            self.starts[indices],
            self.ends[indices],
            self.lines[indices],
            self.stats,
            self.key,
        )


def encode_corpus(
    path: str | Path, units: SentencePieceUnits, max_units: int, cache_dir: str | Path
) -> EncodedCorpus:
    """Encode ``path`` (or reuse its cache) into sequences of at most ``max_units`` units.

    ``path`` may also be an encoded directory (a cache directory copied elsewhere, see
    :func:`is_encoded`): it is read as is, after checking that it was made with this tokenizer
    and ``max_units``, so a training machine needs the unit ids but not the text.
    """
    if max_units < 3:
        raise CorpusError(f"max_units must be >= 3 (two boundaries and one unit), got {max_units}")
    if is_encoded(path):
        directory = Path(path)
        _check_encoding(directory, units, max_units)
        key = directory.name
    else:
        files = corpus_files(path)
        key = fingerprint(files, _CACHE_FORMAT + units.model_proto + str(max_units).encode())
        directory = Path(cache_dir) / key
        if not (directory / "stats.json").exists():
            _write_cache(files, units, max_units, directory)
    stats = CorpusStats(**json.loads((directory / "stats.json").read_text()))
    offsets = np.fromfile(directory / "offsets.bin", dtype=np.int64)  # (S + 1,)
    if stats.used == 0 or len(offsets) < 2:
        raise CorpusError(f"{path}: no usable text ({stats.summary()})")
    return EncodedCorpus(
        units=np.memmap(directory / "units.bin", dtype=np.int32, mode="r"),
        starts=offsets[:-1],
        ends=offsets[1:],
        lines=np.fromfile(directory / "lines.bin", dtype=np.int64),
        stats=stats,
        key=key,
    )


def is_encoded(path: str | Path) -> bool:
    """Whether ``path`` is an encoded corpus directory (it holds ``encoding.json``)."""
    return (Path(path) / _ENCODING_FILE).is_file()


def _encoding(units: SentencePieceUnits, max_units: int) -> dict[str, object]:
    return {
        "format": _CACHE_FORMAT.decode(),
        "tokenizer_sha256": hashlib.sha256(units.model_proto).hexdigest(),
        "max_units": max_units,
    }


def _check_encoding(directory: Path, units: SentencePieceUnits, max_units: int) -> None:
    recorded = json.loads((directory / _ENCODING_FILE).read_text(encoding="utf-8"))
    expected = _encoding(units, max_units)
    for key, value in expected.items():
        if recorded.get(key) != value:
            raise CorpusError(
                f"{directory / _ENCODING_FILE}: {key} is {recorded.get(key)!r}, but this run "
                f"needs {value!r} (encode the text again with this tokenizer and data.max_units)"
            )
    missing = [n for n in ("units.bin", "offsets.bin", "lines.bin", "stats.json")
               if not (directory / n).is_file()]  # fmt: skip
    if missing:
        raise CorpusError(f"{directory}: encoded corpus lacks {', '.join(missing)}")


def _write_cache(files: list[Path], units: SentencePieceUnits, max_units: int, directory: Path):
    """Stream the encoded corpus to raw files: memory stays flat whatever the corpus size."""
    tmp = directory.with_name(directory.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    stats = CorpusStats()
    window = max_units - 2
    total, line_number = 0, 0
    with (
        (tmp / "units.bin").open("wb") as unit_file,
        (tmp / "offsets.bin").open("wb") as offset_file,
        (tmp / "lines.bin").open("wb") as line_file,
    ):
        offset_file.write(np.int64(0).tobytes())
        for line in read_lines(files, stats):
            words = units.encode_words([w.text for w in pre_tokenize(line)])
            if not any(words):  # only characters that normalise away (U+3000, U+FEFF, ...)
                stats.used -= 1
                stats.empty += 1
                continue
            for chunk in _windows(words, window):
                sequence = np.asarray([units.bos_id, *chunk, units.eos_id], dtype=np.int32)
                unit_file.write(sequence.tobytes())
                total += len(sequence)
                offset_file.write(np.int64(total).tobytes())
                line_file.write(np.int64(line_number).tobytes())
            line_number += 1
    (tmp / "stats.json").write_text(json.dumps(stats.__dict__))
    (tmp / _ENCODING_FILE).write_text(json.dumps(_encoding(units, max_units)))
    try:
        os.replace(tmp, directory)
    except OSError:  # another process (a data-parallel rank) finished the same cache first
        shutil.rmtree(tmp, ignore_errors=True)


def _windows(words: list[list[int]], size: int) -> list[list[int]]:
    """Cut a line's units into windows of at most ``size``, between words where possible."""
    windows: list[list[int]] = [[]]
    for word in words:
        if len(windows[-1]) + len(word) > size and windows[-1]:
            windows.append([])
        for lo in range(0, len(word), size):  # a word longer than a window is cut
            if lo:
                windows.append([])
            windows[-1].extend(word[lo : lo + size])
    return [w for w in windows if w]


def plan_epoch(
    lengths: np.ndarray, batch_tokens: int, micro_batches: int, seed: int, epoch: int
) -> list[list[np.ndarray]]:
    """Steps of ``micro_batches`` batches (arrays of sequence indices) for one epoch.

    A batch holds sequences whose padded size ``rows × longest`` stays within ``batch_tokens``
    (a longer sequence gets a batch of its own).  An incomplete last step is dropped.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    for lo in range(0, len(order), _POOL):
        pool = order[lo : lo + _POOL]
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        start = 0
        for end in range(1, len(pool) + 1):
            if end < len(pool) and (end + 1 - start) * lengths[pool[end]] <= batch_tokens:
                continue
            batches.append(pool[start:end])
            start = end
    order = rng.permutation(len(batches))
    batches = [batches[i] for i in order]
    n_steps = len(batches) // micro_batches
    return [batches[k * micro_batches : (k + 1) * micro_batches] for k in range(n_steps)]


@dataclass
class Batch:
    """One batch on its way to the model; everything the step needs without a host sync.

    ``units``: (U,) distinct unit ids of the batch; ``inverse``: (B, T) index into ``units`` per
    position; ``lengths``: (B,) on the CPU; targets (B, T - 1) with -100 where nothing is
    predicted; ``predictions``: number of predicted positions per direction.
    """

    units: torch.Tensor
    inverse: torch.Tensor
    lengths: torch.Tensor
    forward_targets: torch.Tensor
    backward_targets: torch.Tensor
    predictions: int
    longest_chars: int

    def to(self, device: torch.device) -> Batch:
        if device.type == "cpu":
            return self
        move = lambda t: t.pin_memory().to(device, non_blocking=True)  # noqa: E731
        return Batch(
            units=move(self.units),
            inverse=move(self.inverse),
            lengths=self.lengths,
            forward_targets=move(self.forward_targets),
            backward_targets=move(self.backward_targets),
            predictions=self.predictions,
            longest_chars=self.longest_chars,
        )


def make_batch(corpus: EncodedCorpus, indices: np.ndarray, unit_chars: np.ndarray) -> Batch:
    """Assemble the sequences ``indices`` of ``corpus``; ``unit_chars``: (V,) chars per unit."""
    lengths = corpus.lengths[indices]
    steps = int(lengths.max())
    ids = np.full((len(indices), steps), -1, dtype=np.int64)
    for row, i in enumerate(indices):
        ids[row, : lengths[row]] = corpus.units[corpus.starts[i] : corpus.ends[i]]
    real = ids >= 0
    units, inverse = np.unique(np.where(real, ids, ids.max()), return_inverse=True)
    inverse = inverse.reshape(ids.shape)
    # position t predicts t + 1 forwards and t - 1 backwards; both exist where t + 1 is real
    scored = real[:, 1:]
    forward_targets = np.where(scored, ids[:, 1:], NOT_PREDICTED)  # as lm_targets makes them
    backward_targets = np.where(scored, ids[:, :-1], NOT_PREDICTED)
    return Batch(
        units=torch.from_numpy(units),
        inverse=torch.from_numpy(inverse),
        lengths=torch.from_numpy(lengths.astype(np.int64)),
        forward_targets=torch.from_numpy(forward_targets),
        backward_targets=torch.from_numpy(backward_targets),
        predictions=int(scored.sum()),
        longest_chars=int(unit_chars[units].max()),
    )
