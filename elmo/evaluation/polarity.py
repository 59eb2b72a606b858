"""Sentence polarity: Pang & Lee's positive and negative movie-review sentences.

The file holds CSV records ``"1","sentence"`` or ``"-1","sentence"`` (a sentence may span
lines; the file starts with a byte-order mark).  The text is lower-cased and tokenized with
spaces; it is split on whitespace as given.
"""

from __future__ import annotations

import csv
from pathlib import Path

from elmo.evaluation.sources import EvalDataError

__all__ = ["load_polarity"]


def load_polarity(path: Path) -> tuple[list[list[str]], list[int]]:
    """Token lists and labels (1 positive, 0 negative)."""
    sentences, labels = [], []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        for record in reader:
            if not record:
                continue
            if len(record) != 2 or record[0] not in ("1", "-1"):
                raise EvalDataError(
                    f'{path}:{reader.line_num}: expected "1"|"-1","sentence", got {record!r}'
                )
            tokens = record[1].split()
            if tokens:
                sentences.append(tokens)
                labels.append(1 if record[0] == "1" else 0)
    if len(set(labels)) < 2:
        raise EvalDataError(f"{path}: needs sentences of both polarities")
    return sentences, labels
