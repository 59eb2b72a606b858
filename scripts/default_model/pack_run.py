"""Pack a finished training run into what one device call can bring back (<= 8 files <= 16 MiB).

    python scripts/default_model/pack_run.py RUN OUT            # parts, on the GPU machine
    python scripts/default_model/pack_run.py --bundle RUN DIR   # a float16 bundle, here

Run on the GPU machine after ``elmo train``: the bundle's weights are stored as float16 and cut
into 15 MiB parts, next to the tokenizer, config, model card, metrics and a manifest with the
SHA-256 of the whole weights file.  ``unpack_run.py`` puts them back together here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from elmo.inference.embedder import Embedder
from elmo.io.bundle import load_bundle, load_tokenizer, read_training, save_bundle
from elmo.training.curves import CURVE_FILE

PART = 15 * 2**20


def half_precision_bundle(model_dir: Path, target: Path) -> float:
    """Write ``model_dir`` as a float16 bundle in ``target``; returns the vectors' drift."""
    card = (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    save_bundle(
        load_bundle(model_dir),
        target,
        tokenizer=load_tokenizer(model_dir),
        model_card=card,
        dtype=torch.float16,
        training=read_training(model_dir),
    )
    if (model_dir / CURVE_FILE).is_file():  # the card shows it
        shutil.copy(model_dir / CURVE_FILE, target / CURVE_FILE)
    drift = _half_precision_drift(model_dir, target)
    print(f"float16 weights: max |difference| / max |value| of the vectors = {drift:.2e}")
    if drift > 1e-3:
        raise SystemExit(f"float16 weights move the vectors by {drift:.2e} > 1e-3 of float32")
    return drift


def main(run: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    staging = out / ".bundle"
    drift = half_precision_bundle(run / "model", staging)
    weights = (staging / "model.safetensors").read_bytes()
    parts = [weights[i : i + PART] for i in range(0, len(weights), PART)]
    if len(parts) > 4:
        raise SystemExit(f"weights need {len(parts)} parts of 15 MiB; at most 4 fit the return")
    for i, part in enumerate(parts):
        (out / f"weights.part{i}").write_bytes(part)
    for name in ("config.json", "tokenizer.model", "MODEL_CARD.md"):
        shutil.copy(staging / name, out / name)
    # the card's picture, when drawn (matplotlib) and while the files stay within 8
    if (staging / CURVE_FILE).is_file() and len(parts) + 6 <= 8:
        shutil.copy(staging / CURVE_FILE, out / CURVE_FILE)
    shutil.copy(run / "metrics.jsonl", out / "metrics.jsonl")
    manifest = {
        "parts": len(parts),
        "bytes": len(weights),
        "sha256": hashlib.sha256(weights).hexdigest(),
        "float16_drift": drift,
    }
    (out / "weights.json").write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    shutil.rmtree(staging)
    print(json.dumps(manifest))


def _half_precision_drift(full: Path, half: Path) -> float:
    """How far float16 storage moves the vectors, relative to their largest magnitude."""
    texts = (
        "El gato come pescado .",
        "Para cambiar la rueda , levanté el auto con el gato .",
        "The quick brown fox jumps over the lazy dog .",
        "Deep contextualized word representations model syntax and semantics .",
    )
    sentences = [text.split(" ") for text in texts]
    full_vectors = Embedder.from_pretrained(full).embed_tokens(sentences)
    half_vectors = Embedder.from_pretrained(half).embed_tokens(sentences)
    scale = max(float(np.abs(v).max()) for v in full_vectors)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(full_vectors, half_vectors, strict=True))
    return diff / scale


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Pack a finished training run: parts for the device's return, or a bundle."
    )
    parser.add_argument("run", type=Path, help="the run directory (its model/ is packed)")
    parser.add_argument("out", type=Path, help="where the parts, or the bundle, go")
    parser.add_argument(
        "--bundle", action="store_true", help="write a float16 bundle into OUT instead of parts"
    )
    args = parser.parse_args(argv)
    if not (args.run / "model").is_dir():
        parser.error(f"{args.run} has no model/ directory: is it a finished training run?")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.bundle:
        half_precision_bundle(arguments.run / "model", arguments.out)
    else:
        main(arguments.run, arguments.out)
