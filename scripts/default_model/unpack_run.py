"""Rebuild a bundle from the files ``pack_run.py`` brought back, checking the weights' hash.

python scripts/default_model/unpack_run.py OUT models/enes-small

OUT is the directory ``gpu_train.sh`` filled on the GPU machine, copied back here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
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


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
