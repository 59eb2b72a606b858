"""``elmo info``: a model's layers, dimensions, parameter count and configuration, as JSON."""

from __future__ import annotations

import argparse
import json

from elmo.config import to_dict
from elmo.inference.embedder import Embedder


def run(args: argparse.Namespace) -> None:
    embedder = Embedder.from_pretrained(args.model)
    params = sum(p.numel() for p in embedder.model.parameters())
    summary = {
        "layers": embedder.num_layers,
        "dim": embedder.dim,
        "parameters": params,
        "config": to_dict(embedder.config),
    }
    print(json.dumps(summary, indent=2))


def add(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser("info", help="print a model's dimensions and configuration")
    info.add_argument("--model", required=True, help="bundle directory or original-files directory")
    info.set_defaults(run=run)
