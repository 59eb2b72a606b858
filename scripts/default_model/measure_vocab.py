"""Choose the sentencepiece vocabulary size by measurement: units per word in each language.

Trains a unigram tokenizer of each size on a sample of the corpus's train split and prints, per
size, the units per word of the English and Spanish validation text and the share of words that
stay one unit.  Fewer units per word means shorter sequences (the LSTM runs one step per unit) and
more whole words for the char-CNN; a larger softmax costs time at training and bundle bytes::

    python scripts/default_model/measure_vocab.py --corpus ~/.cache/elmo/corpus/en-es-v1
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from elmo.tokenization import SentencePieceUnits, pre_tokenize, train_sentencepiece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 16000, 32000])
    parser.add_argument("--sample", type=int, default=300_000, help="train lines used")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    with (corpus / "train.txt").open(encoding="utf-8") as handle:
        lines = [line.strip() for line in itertools.islice(handle, 0, None, 3) if line.strip()]
    lines = lines[: args.sample]
    valid = {
        lang: [[w.text for w in pre_tokenize(line)] for line in
               (corpus / f"valid.{lang}.txt").read_text(encoding="utf-8").splitlines()[:3000]]
        for lang in ("en", "es")
    }  # fmt: skip
    print(f"{len(lines)} training lines sampled")
    print("| vocabulary | en units/word | es units/word | en one-unit words | es one-unit words "
          "| training s |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        started = time.perf_counter()
        units = SentencePieceUnits(train_sentencepiece(lines, vocab_size=size))
        seconds = time.perf_counter() - started
        row = [f"{units.vocab_size}"]
        whole = []
        for lang in ("en", "es"):
            pieces = [p for sentence in valid[lang] for p in units.encode_words(sentence)]
            row.append(f"{sum(map(len, pieces)) / len(pieces):.3f}")
            whole.append(f"{100 * sum(len(p) == 1 for p in pieces) / len(pieces):.1f}%")
        print("| " + " | ".join(row + whole + [f"{seconds:.0f}"]) + " |")


if __name__ == "__main__":
    main()
