"""``elmo convert``: original (bilm-tf / AllenNLP) options + HDF5 weights → a bundle."""

from __future__ import annotations

import argparse

from elmo.io.bundle import save_bundle
from elmo.io.convert import load_original


def run(args: argparse.Namespace) -> None:
    model = load_original(args.options, args.weights)
    out = save_bundle(model, args.output_dir)
    print(f"wrote {out}/config.json and {out}/model.safetensors")


def add(commands: argparse._SubParsersAction) -> None:
    convert = commands.add_parser("convert", help="convert original ELMo files into a bundle")
    convert.add_argument("options", help="original options.json")
    convert.add_argument("weights", help="original weights.hdf5")
    convert.add_argument("output_dir", help="bundle directory to write")
    convert.set_defaults(run=run)
