"""``elmo similarity``: how one word's vectors change with its context, layer by layer."""

from __future__ import annotations

import argparse

import numpy as np

from elmo.errors import InvalidInputError
from elmo.inference.embedder import Embedder
from elmo.tokenization import pre_tokenize


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denominator if denominator else 0.0


def run(args: argparse.Namespace) -> None:
    if len(args.sentences) < 2:
        raise InvalidInputError("elmo similarity needs at least two sentences")
    # Split as `elmo embed` and the service do ("at the bank." gives "bank" and "."), unless
    # the caller's tokens are already separated by spaces.
    if args.pretokenized:
        sentences = [s.split() for s in args.sentences]
    else:
        sentences = [[word.text for word in pre_tokenize(s)] for s in args.sentences]
    positions = []
    for i, tokens in enumerate(sentences):
        if args.word not in tokens:
            raise InvalidInputError(
                f"sentence {i + 1} does not contain the token {args.word!r} "
                f"(its tokens: {' '.join(tokens)})"
            )
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


def add(commands: argparse._SubParsersAction) -> None:
    similarity = commands.add_parser(
        "similarity", help="per-layer cosine between a word's vectors in different sentences"
    )
    similarity.add_argument("--model", required=True, help="bundle or original-files directory")
    similarity.add_argument("--word", required=True, help="the token to compare")
    similarity.add_argument(
        "sentences", nargs="+", help="two or more sentences (split into words and punctuation)"
    )
    similarity.add_argument(
        "--pretokenized", action="store_true", help="split the sentences on whitespace only"
    )
    similarity.set_defaults(run=run)
