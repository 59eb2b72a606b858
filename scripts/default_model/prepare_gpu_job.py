"""Prepare what the GPU machine needs to train the default model, in at most 60 MiB.

Run here (CPU).  Trains the sentencepiece tokenizer on the corpus's train split (or reuses one),
encodes train and valid into unit-id directories (``elmo.training.data``'s encoded format, which
records the tokenizer it was made with), and packs them as ``.tar.xz`` next to ``tokenizer.model``
in JOB. The GPU machine then needs the repository and JOB only, never the text::

    python scripts/default_model/prepare_gpu_job.py --corpus ~/.cache/elmo/corpus/en-es-v1 \\
        --config configs/enes-small.toml --job build/gpu_job
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from elmo.tokenization import SentencePieceUnits, train_sentencepiece
from elmo.training.config import load_train_config
from elmo.training.corpus import CorpusStats, corpus_files, read_lines
from elmo.training.data import encode_corpus

LIMIT = 60 * 2**20  # what travels: the repository plus JOB must stay under 64 MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="output of `elmo corpus build`")
    parser.add_argument("--config", required=True, help="training config (max_units, vocab)")
    parser.add_argument("--job", default="build/gpu_job", help="directory to write")
    parser.add_argument("--tokenizer", help="reuse this tokenizer.model instead of training one")
    args = parser.parse_args()
    config = load_train_config(args.config)
    corpus, job = Path(args.corpus), Path(args.job)
    job.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.tokenizer:
        units = SentencePieceUnits.load(args.tokenizer)
    else:
        files = corpus_files(corpus / "train.txt")
        units = SentencePieceUnits(
            train_sentencepiece(
                read_lines(files, CorpusStats()),
                vocab_size=config.tokenizer.vocab_size,
                character_coverage=config.tokenizer.character_coverage,
                max_sentences=config.tokenizer.max_sentences,
            )
        )
    units.save(job / "tokenizer.model")
    print(f"tokenizer: {units.vocab_size} units ({time.perf_counter() - started:.0f} s)")
    record: dict[str, object] = {"config": args.config, "vocab_size": units.vocab_size}
    with tempfile.TemporaryDirectory() as cache:
        for split in ("train", "valid"):
            encoded = encode_corpus(corpus / f"{split}.txt", units, config.data.max_units, cache)
            archive = job / f"{split}.enc.tar.xz"
            with tarfile.open(archive, "w:xz", preset=6) as tar:
                tar.add(Path(cache) / encoded.key, arcname=split)
            record[split] = {
                "sequences": len(encoded),
                "units": int(encoded.ends[-1]),
                "lines": encoded.stats.used,
                "archive_bytes": archive.stat().st_size,
                "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
            }
            print(f"{split}: {record[split]} ({time.perf_counter() - started:.0f} s)")
    shutil.copy(args.config, job / "config.toml")
    (job / "job.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in job.iterdir())
    print(f"{job}: {total / 2**20:.1f} MiB")
    if total > LIMIT:
        raise SystemExit(
            f"{job} is {total / 2**20:.1f} MiB, over the {LIMIT / 2**20:.0f} MiB limit"
        )


if __name__ == "__main__":
    main()
