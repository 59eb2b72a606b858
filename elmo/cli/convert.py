"""``elmo convert``: original (bilm-tf / AllenNLP) options + HDF5 weights → a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from elmo.errors import InvalidInputError
from elmo.io.bundle import save_bundle
from elmo.io.convert import load_original
from elmo.io.registry import sha256_file
from elmo.nn.bilm import BiLM


def conversion_card(model: BiLM, options: Path, weights: Path) -> str:
    """The card of a converted bundle: which files it came from (by name and SHA-256, so a
    reader can tell which published model it is) and what the network is.  How the weights
    were trained is the original's card to tell; this one says only what conversion did."""
    config = model.config
    recurrent = config.recurrent
    parameters = sum(p.numel() for p in model.parameters())
    filters = sum(n for _, n in config.char_cnn.filters)
    return f"""# Model card: converted from original ELMo files

Converted with `elmo convert {options.name} {weights.name} OUT_DIR` from:

| file | bytes | SHA-256 |
| --- | ---: | --- |
| `{options.name}` | {options.stat().st_size:,} | `{sha256_file(options)}` |
| `{weights.name}` | {weights.stat().st_size:,} | `{sha256_file(weights)}` |

- Network: character CNN ({filters:,} filters, {config.char_cnn.n_highway} highway layers), \
{recurrent.num_layers} biLSTM layers of {recurrent.hidden_size:,} cells projected to \
{recurrent.projection_size:,}; {parameters:,} parameters; vectors of {config.output_dim:,} \
dimensions in {recurrent.num_layers + 1} layers.
- Tokens: words, read character by character as the original model reads them.
- The weights are the original's, unchanged (float32); the original model's own documentation
  describes its training data, method and licence, which conversion does not change.
"""


def run(args: argparse.Namespace) -> None:
    output = Path(args.output_dir)
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not args.force:
        raise InvalidInputError(
            f"{output} exists and is not empty; choose another directory or pass --force"
        )
    options, weights = Path(args.options), Path(args.weights)
    model = load_original(options, weights)
    out = save_bundle(model, output, model_card=conversion_card(model, options, weights))
    print(f"wrote {out}/config.json, {out}/model.safetensors and {out}/MODEL_CARD.md")


def add(commands: argparse._SubParsersAction) -> None:
    convert = commands.add_parser("convert", help="convert original ELMo files into a bundle")
    convert.add_argument("options", help="original options.json")
    convert.add_argument("weights", help="original weights.hdf5")
    convert.add_argument("output_dir", help="bundle directory to write (new or empty)")
    convert.add_argument(
        "--force", action="store_true", help="write into OUTPUT_DIR even if it holds files"
    )
    convert.set_defaults(run=run)
