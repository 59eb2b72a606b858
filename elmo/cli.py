"""The ``elmo`` command line.

Subcommands: ``train`` (a biLM on a corpus), ``embed`` (a file of sentences → vectors),
``convert`` (original files → bundle), ``info`` (what a model is), ``similarity`` (how a word's
vectors change with context, per layer), ``evaluate``, ``corpus build`` (the training corpus
from pinned packages) and ``serve`` (the REST service; needs the ``service`` extra).  Errors
the library reports are printed as one line naming the file or input, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence

import numpy as np

from elmo.config import to_dict
from elmo.corpus_build.command import add_corpus_command
from elmo.errors import ElmoError, InvalidInputError
from elmo.evaluation.command import add_evaluate
from elmo.inference.embedder import Embedder
from elmo.io.bundle import save_bundle
from elmo.io.convert import load_original

__all__ = ["main"]


def _convert(args: argparse.Namespace) -> None:
    model = load_original(args.options, args.weights)
    out = save_bundle(model, args.output_dir)
    print(f"wrote {out}/config.json and {out}/model.safetensors")


def _info(args: argparse.Namespace) -> None:
    embedder = Embedder.from_pretrained(args.model)
    params = sum(p.numel() for p in embedder.model.parameters())
    summary = {
        "layers": embedder.num_layers,
        "dim": embedder.dim,
        "parameters": params,
        "config": to_dict(embedder.config),
    }
    print(json.dumps(summary, indent=2))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denominator if denominator else 0.0


def _similarity(args: argparse.Namespace) -> None:
    sentences = [s.split() for s in args.sentences]
    positions = []
    for i, tokens in enumerate(sentences):
        if args.word not in tokens:
            raise InvalidInputError(f"sentence {i + 1} does not contain the token {args.word!r}")
        positions.append(tokens.index(args.word))
    vectors = Embedder.from_pretrained(args.model).embed_tokens(sentences)
    first, first_at = vectors[0], positions[0]
    print(f"cosine of {args.word!r} (sentence 1 vs each other sentence), per layer")
    for other in range(1, len(sentences)):
        at = positions[other]
        cosines = [
            _cosine(first[k, first_at], vectors[other][k, at]) for k in range(first.shape[0])
        ]
        row = "  ".join(f"layer {k}: {c:.4f}" for k, c in enumerate(cosines))
        print(f"sentence {other + 1}: {row}")


def _train(args: argparse.Namespace) -> None:
    from elmo.training.config import load_train_config, to_toml
    from elmo.training.loop import train

    overrides = list(args.set)
    for flag, key in (
        ("max_steps", "run.max_steps"),
        ("max_time", "run.max_time_s"),
        ("device", "run.device"),
        ("precision", "run.precision"),
        ("seed", "run.seed"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    config = load_train_config(args.config, overrides)
    if args.show_config:
        print(to_toml(config), end="")
        return
    if args.train is None or args.output is None:
        raise InvalidInputError("elmo train needs --train and --output")
    command = "elmo " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = train(config, args.train, args.valid, args.output, command=command)
    print(
        f"wrote {result.bundle} after {result.state.step} steps; validation perplexity "
        f"forward {result.valid_ppl_forward:.2f}, backward {result.valid_ppl_backward:.2f}"
    )


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="train a biLM on a text corpus (resumes if OUTPUT holds checkpoints)",
        description="Train a biLM. Run under torchrun for data-parallel training.",
    )
    train.add_argument("--train", help="UTF-8 text file (one sentence/paragraph a line) or dir")
    train.add_argument("--valid", help="validation text; default: hold out part of --train")
    train.add_argument("--output", help="run directory: checkpoints, metrics.jsonl, model/")
    train.add_argument("--config", help="TOML config (see configs/); defaults otherwise")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value, e.g. --set optim.lr=0.002 (repeatable)",
    )
    train.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    train.add_argument("--max-time", type=float, help="stop after this many seconds")
    train.add_argument("--device", choices=["cpu", "cuda"], help="where to train")
    train.add_argument("--precision", choices=["fp32", "bf16"], help="bf16 uses autocast")
    train.add_argument("--seed", type=int, help="random seed (data order, init, dropout)")
    train.add_argument(
        "--show-config", action="store_true", help="print the effective config as TOML and exit"
    )
    train.set_defaults(run=_train)


def _embed(args: argparse.Namespace) -> None:
    from pathlib import Path

    from elmo.inference.extract import extract

    embedder = Embedder.from_pretrained(args.model, batch_size=args.batch_size, device=args.device)
    layers = "top" if args.top else "average" if args.average else "all"
    count = extract(
        embedder,
        Path(args.input),
        Path(args.output),
        layers,
        args.pretokenized,
        args.force,
        progress=not args.quiet,
    )
    print(f"wrote {count} sentence(s) to {args.output}")


def _add_embed(commands: argparse._SubParsersAction) -> None:
    embed = commands.add_parser(
        "embed",
        help="embed every line of a file into HDF5 (AllenNLP layout), NPZ or JSONL",
        description="One sentence a line (or JSONL: a string, a token list, or an object with "
        '"text" or "tokens"); an empty line gives 0 tokens. The output type follows OUTPUT\'s '
        "extension: .hdf5/.h5, .npz or .jsonl.",
    )
    embed.add_argument("input", help="text file, one sentence a line, or .jsonl")
    embed.add_argument("output", help="output file: .hdf5, .h5, .npz or .jsonl")
    embed.add_argument(
        "--model",
        default="default",
        help="bundle or original-files directory, or a model name in models/ (default: default)",
    )
    which = embed.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="all layers, [L, n, 2D] (default)")
    which.add_argument("--top", action="store_true", help="the top layer only, [n, 2D]")
    which.add_argument("--average", action="store_true", help="the mean of all layers, [n, 2D]")
    embed.add_argument(
        "--pretokenized", action="store_true", help="split text lines on whitespace only"
    )
    embed.add_argument("--batch-size", type=int, default=64, help="sentences per forward pass")
    embed.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    embed.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    embed.add_argument("--quiet", action="store_true", help="no progress bar")
    embed.set_defaults(run=_embed)


# Packages of the ``service`` extra: missing one means the extra is not installed.
_SERVICE_PACKAGES = {"fastapi", "starlette", "uvicorn", "pydantic", "pydantic_settings"}
_SERVICE_PACKAGES |= {"prometheus_client", "anyio"}


def _serve(args: argparse.Namespace) -> int:
    # Imported here: the library must not depend on the service or its packages.
    try:
        from service.server import load_settings, serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVICE_PACKAGES:
            raise
        raise ElmoError(
            f"elmo serve needs the service extra (missing module {exc.name!r}): "
            "pip install -e '.[service]'"
        ) from None
    settings = load_settings(model=args.model, host=args.host, port=args.port, device=args.device)
    return serve(settings)


def _add_serve(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the REST service (ELMO_* variables set the limits; see README)",
        description="Serve a model over HTTP. Flags override ELMO_* environment variables.",
    )
    serve.add_argument(
        "--model", help="bundle directory or model name (default: the default model in models/)"
    )
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1; 0.0.0.0: all)")
    serve.add_argument("--port", type=int, help="TCP port (default 8000)")
    serve.add_argument("--device", help="cpu (default), cuda, cuda:1, ...")
    serve.set_defaults(run=_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elmo", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert original ELMo files into a bundle")
    convert.add_argument("options", help="original options.json")
    convert.add_argument("weights", help="original weights.hdf5")
    convert.add_argument("output_dir", help="bundle directory to write")
    convert.set_defaults(run=_convert)

    info = commands.add_parser("info", help="print a model's dimensions and configuration")
    info.add_argument("--model", required=True, help="bundle directory or original-files directory")
    info.set_defaults(run=_info)

    similarity = commands.add_parser(
        "similarity", help="per-layer cosine between a word's vectors in different sentences"
    )
    similarity.add_argument("--model", required=True, help="bundle or original-files directory")
    similarity.add_argument("--word", required=True, help="the token to compare")
    similarity.add_argument(
        "sentences", nargs="+", help="two or more sentences, tokens separated by spaces"
    )
    similarity.set_defaults(run=_similarity)
    _add_train(commands)
    _add_embed(commands)
    add_evaluate(commands)
    add_corpus_command(commands)
    _add_serve(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "similarity" and len(args.sentences) < 2:
        parser.error("similarity needs at least two sentences")
    try:
        status = args.run(args)
    except ElmoError as exc:
        print(f"elmo: error: {exc}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
