"""Rebuild a bundle from the files ``pack_run.py`` brought back, checking the weights' hash.

python scripts/default_model/unpack_run.py OUT models/enes-small

OUT is the directory ``gpu_train.sh`` filled on the GPU machine, copied back here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from elmo.io.bundle import load_bundle


def main(packed: Path, target: Path) -> None:
    manifest = json.loads((packed / "weights.json").read_text(encoding="utf-8"))
    weights = b"".join((packed / f"weights.part{i}").read_bytes() for i in range(manifest["parts"]))
    if hashlib.sha256(weights).hexdigest() != manifest["sha256"]:
        raise SystemExit(f"{packed}: the weight parts do not match weights.json's SHA-256")
    target.mkdir(parents=True, exist_ok=True)
    (target / "model.safetensors").write_bytes(weights)
    for name in ("config.json", "tokenizer.model", "MODEL_CARD.md", "training_curve.png"):
        if (packed / name).is_file():  # (no curve without matplotlib)
            shutil.copy(packed / name, target / name)
    load_bundle(target)  # strict key, shape and dtype checks
    print(f"wrote {target} ({len(weights) / 2**20:.1f} MiB of weights)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Rebuild a bundle from the parts pack_run.py wrote, checking their hash."
    )
    parser.add_argument("packed", type=Path, help="the device's OUT, copied back here")
    parser.add_argument("target", type=Path, help="the bundle directory to write")
    args = parser.parse_args(argv)
    if not (args.packed / "weights.json").is_file():
        parser.error(f"{args.packed} has no weights.json: is it what pack_run.py wrote?")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    main(arguments.packed, arguments.target)
