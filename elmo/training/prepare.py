"""Getting a run's data ready: the tokenizer, the encoded training and validation sequences.

Rank 0 trains the tokenizer and writes the encoded caches; the other ranks wait at a barrier and
then read the same files (a cache hit), so every rank sees identical data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from elmo.errors import ConfigError, InvalidInputError
from elmo.nn.chars import used_slots
from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from elmo.training.config import TrainConfig
from elmo.training.corpus import CorpusError, CorpusStats, corpus_files, fingerprint, read_lines
from elmo.training.data import EncodedCorpus, encode_corpus, is_encoded

__all__ = ["TrainingData", "prepare_data"]


@dataclass
class TrainingData:
    units: SentencePieceUnits
    train: EncodedCorpus
    valid: EncodedCorpus
    unit_chars: np.ndarray  # (V,) char slots each unit uses (boundary markers included)
    train_path: Path
    valid_path: Path | None


def prepare_data(
    config: TrainConfig,
    train_path: str | Path,
    valid_path: str | Path | None,
    output: Path,
    is_main: bool,
    barrier: Callable[[], None],
) -> TrainingData:
    if output.exists() and not output.is_dir():
        raise CorpusError(f"{output}: --output must be a directory, not a file")
    output.mkdir(parents=True, exist_ok=True)
    train_path = Path(train_path)
    corpus_files(train_path)  # fail early, on every rank, for a missing or empty path
    if valid_path is not None:
        corpus_files(valid_path)
    if is_encoded(train_path) and config.tokenizer.model is None:
        raise ConfigError(
            f"{train_path} is an encoded corpus: set tokenizer.model to the tokenizer it was "
            "encoded with"
        )
    if is_main:
        units = _tokenizer(config, train_path, output)
    barrier()
    if not is_main:
        units = SentencePieceUnits.load(config.tokenizer.model or output / "tokenizer.model")
    cache = output / "cache"
    encoded = {}
    for turn in (True, False):  # rank 0 writes the caches, then the others read them
        if is_main == turn:
            encoded["train"] = encode_corpus(train_path, units, config.data.max_units, cache)
            if valid_path is not None:
                encoded["valid"] = encode_corpus(valid_path, units, config.data.max_units, cache)
        barrier()
    train = encoded["train"]
    if valid_path is None:
        train, valid = _hold_out(train, config.run.valid_fraction, config.run.seed)
    else:
        valid = encoded["valid"]
    unit_chars = used_slots(units.unit_char_ids()).numpy()
    return TrainingData(
        units, train, valid, unit_chars, train_path, Path(valid_path) if valid_path else None
    )


def _tokenizer(config: TrainConfig, train_path: Path, output: Path) -> SentencePieceUnits:
    if config.tokenizer.model is not None:
        units = SentencePieceUnits.load(config.tokenizer.model)
        units.save(output / "tokenizer.model")
        return units
    saved = output / "tokenizer.model"
    files = corpus_files(train_path)
    settings = {
        "vocab_size": config.tokenizer.vocab_size,
        "character_coverage": config.tokenizer.character_coverage,
        "max_sentences": config.tokenizer.max_sentences,
        "corpus": fingerprint(files, b"tokenizer"),
    }
    recorded = output / "tokenizer.json"
    if saved.exists():
        if recorded.exists() and json.loads(recorded.read_text()) == settings:
            return SentencePieceUnits.load(saved)
        raise ConfigError(
            f"{saved} was trained on other text or with other [tokenizer] settings; "
            "use another --output (or delete it to train a new one)"
        )
    stats = CorpusStats()
    if next(read_lines(files, stats), None) is None:
        raise CorpusError(f"{train_path}: no usable text ({stats.summary()})")
    try:
        proto = train_sentencepiece(
            read_lines(files, CorpusStats()),
            vocab_size=config.tokenizer.vocab_size,
            character_coverage=config.tokenizer.character_coverage,
            max_sentences=config.tokenizer.max_sentences,
        )
    except InvalidInputError as exc:
        raise CorpusError(f"{train_path}: {exc}") from None
    tmp = saved.with_name(f"tokenizer.model.tmp{os.getpid()}")
    tmp.write_bytes(proto)
    recorded.write_text(json.dumps(settings))
    os.replace(tmp, saved)
    return SentencePieceUnits(proto)


def _hold_out(
    corpus: EncodedCorpus, fraction: float, seed: int
) -> tuple[EncodedCorpus, EncodedCorpus]:
    """Split off a random ``fraction`` of the lines (at least one) for validation; all windows
    of a line go to the same side, so no validation text is trained on."""
    lines = np.unique(corpus.lines)
    if len(lines) < 2:
        raise CorpusError("the training text has fewer than 2 lines: give --valid separately")
    rng = np.random.default_rng([seed, 7])
    held = rng.permutation(lines)[: max(1, int(len(lines) * fraction))]
    is_valid = np.isin(corpus.lines, held)
    return corpus.select(np.flatnonzero(~is_valid)), corpus.select(np.flatnonzero(is_valid))
