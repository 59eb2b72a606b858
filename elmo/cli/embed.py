"""``elmo embed``: every line of a file → vectors in HDF5 (AllenNLP's layout), NPZ or JSONL."""

from __future__ import annotations

import argparse
from pathlib import Path

from elmo.inference.embedder import Embedder
from elmo.inference.extract import extract


def run(args: argparse.Namespace) -> None:
    layers = "top" if args.top else "average" if args.average else "all"
    if args.engine == "ray":
        from elmo.inference.ray_extract import extract_ray

        lines, embedded = extract_ray(
            args.input,
            Path(args.output),
            args.model,
            layers,
            args.pretokenized,
            args.force,
            progress=not args.quiet,
            address=args.address,
            shard_lines=args.shard_lines,
            num_workers=args.num_workers,
            batch_size=args.batch_size,
            batch_tokens=args.batch_tokens,
            device=args.device,
        )
        print(f"{lines} sentence(s) in {args.output} ({embedded} shard(s) embedded now)")
        return
    embedder = Embedder.from_pretrained(args.model, batch_size=args.batch_size, device=args.device)
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


def add(commands: argparse._SubParsersAction) -> None:
    embed = commands.add_parser(
        "embed",
        help="embed every line of a file into HDF5 (AllenNLP layout), NPZ or JSONL",
        description="One sentence a line (or JSONL: a string, a token list, or an object with "
        '"text" or "tokens"); an empty line gives 0 tokens. The output type follows OUTPUT\'s '
        "extension: .hdf5/.h5, .npz or .jsonl.",
    )
    embed.add_argument("input", help="text file, one sentence a line, or .jsonl")
    embed.add_argument(
        "output", help="output file: .hdf5, .h5, .npz or .jsonl; with --engine ray a directory"
    )
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
    embed.add_argument(
        "--force", action="store_true", help="overwrite OUTPUT (--engine ray: start over)"
    )
    embed.add_argument("--quiet", action="store_true", help="no progress bar")
    ray = embed.add_argument_group(
        "Ray engine",
        "Parquet shards and a manifest.json in OUTPUT; a rerun resumes (needs the "
        "ray extra: pip install '.[ray]')",
    )
    ray.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process (default); ray: a pool of Ray workers",
    )
    ray.add_argument("--address", help="Ray cluster to join (HEAD:6379); default: a local one")
    ray.add_argument(
        "--shard-lines", type=int, default=10_000, help="lines a shard (default: 10000)"
    )
    ray.add_argument("--num-workers", type=int, default=1, help="Ray workers (default: 1)")
    ray.add_argument(
        "--batch-tokens",
        type=int,
        default=4096,
        help="tokens a worker embeds together at most (default: 4096)",
    )
    embed.set_defaults(run=run)
