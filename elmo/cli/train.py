"""``elmo train``: a biLM on a corpus, resuming from the run directory's checkpoints."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence

from elmo.errors import InvalidInputError


def run(args: argparse.Namespace) -> None:
    # Imported here: the training stack is not needed to embed or serve.
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
    command = shown_command(sys.argv[1:])
    result = train(config, args.train, args.valid, args.output, command=command)
    print(
        f"wrote {result.bundle} after {result.state.step} steps; validation perplexity "
        f"forward {result.valid_ppl_forward:.2f}, backward {result.valid_ppl_backward:.2f}"
    )


def shown_command(argv: Sequence[str], home: str | None = None) -> str:
    """The ``elmo`` command line as the model card records it: each argument quoted for a
    shell, and a path below the home directory written ``~/...``, so that a card names no user
    or machine (a shell expands it back to the same file for whoever runs it).  Inside a
    ``--set`` value the path is written ``~/...`` too: the shell does not expand it there, but
    the setting that takes a path (``run.init_from``) does."""
    from elmo.training.model_card import home_as_tilde

    home = (home or os.path.expanduser("~")).rstrip("/")
    shown = []
    for before, arg in zip(["", *argv], argv, strict=False):
        rest = arg[len(home) + 1 :] if home and arg.startswith(home + "/") else None
        if rest and shlex.quote(rest) == rest:
            shown.append("~/" + rest)
        elif before == "--set" or arg.startswith("--set="):
            shown.append(shlex.quote(home_as_tilde(arg, home)))
        else:
            shown.append(shlex.quote(arg))
    return " ".join(["elmo", *shown])


def add(commands: argparse._SubParsersAction) -> None:
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
    train.set_defaults(run=run)
