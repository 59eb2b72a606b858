"""The training curve: drawn from metrics.jsonl at every evaluation, exported with the bundle
and linked from its model card, and skipped (said once) without matplotlib."""

import json
import logging
import math
from pathlib import Path

import pytest

import elmo.training.loop
from elmo.plots import PLOTS_INSTALL
from elmo.training.config import load_train_config
from elmo.training.curves import (
    CURVE_FILE,
    read_metrics,
    training_curve_png,
    write_training_curve,
)
from elmo.training.loop import train
from factories import FIXTURES, png_size, without_matplotlib

CORPUS = FIXTURES / "corpus"
TINY = Path(__file__).parents[3] / "configs" / "tiny.toml"
SHORT_RUN = ["run.max_steps=20", "run.eval_every=10", "run.log_every=5", "data.batch_tokens=512"]


def _records(scale: float = 1.0) -> list[dict[str, float]]:
    return [
        {
            "step": s,
            "tokens": 1000 * s,
            "valid_ppl_forward": scale * 500 / s,
            "valid_ppl_backward": 450 / s,
        }
        for s in (1, 2, 4, 8)
    ]


def _short_run(run: Path) -> None:
    config = load_train_config(TINY, SHORT_RUN)
    train(config, CORPUS / "train.txt", CORPUS / "valid.txt", run, command="pytest")


def test_the_curve_is_an_800_by_450_png_with_identical_bytes_for_identical_metrics():
    first = training_curve_png(_records())
    assert first is not None and png_size(first) == (800, 450)
    assert training_curve_png(_records()) == first
    assert training_curve_png(_records(scale=2.0)) != first  # the picture follows the numbers


@pytest.mark.parametrize(
    "records",
    [
        [],
        [
            {
                "step": 10,
                "tokens": 100,
                "valid_ppl_forward": math.nan,
                "valid_ppl_backward": math.inf,
            }
        ],
    ],
    ids=["no evaluation yet", "diverged evaluation"],
)
def test_metrics_without_a_finite_perplexity_draw_no_curve(records, tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert training_curve_png(records) is None
    assert write_training_curve(metrics, tmp_path / CURVE_FILE) is False
    assert not (tmp_path / CURVE_FILE).exists()


def test_read_metrics_gives_every_record_and_nothing_before_the_first_evaluation(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    assert read_metrics(metrics) == []
    metrics.write_text("".join(json.dumps(r) + "\n" for r in _records()), encoding="utf-8")
    assert read_metrics(metrics) == _records()


def test_a_run_redraws_its_curve_at_every_evaluation_and_exports_it_linked_from_the_card(
    tmp_path, monkeypatch
):
    drawn_with: list[int] = []  # metrics records on disk at each drawing

    def spy(metrics_path: Path, *targets: Path) -> bool:
        drawn_with.append(len(read_metrics(metrics_path)))
        return write_training_curve(metrics_path, *targets)

    monkeypatch.setattr(elmo.training.loop, "write_training_curve", spy)
    _short_run(tmp_path)
    assert drawn_with == [1, 2, 2]  # step 10, step 20, then the export
    expected = training_curve_png(read_metrics(tmp_path / "metrics.jsonl"))
    assert expected is not None and png_size(expected) == (800, 450)
    assert (tmp_path / CURVE_FILE).read_bytes() == expected
    assert (tmp_path / "model" / CURVE_FILE).read_bytes() == expected
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"]({CURVE_FILE})" in card  # relative to the card: the bundle can move


def test_without_matplotlib_a_run_trains_says_so_once_and_its_card_links_no_picture(
    tmp_path, monkeypatch, caplog
):
    stale = tmp_path / "model" / CURVE_FILE  # an earlier export's picture
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    without_matplotlib(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="elmo.plots"):
        _short_run(tmp_path)
    notices = [r.getMessage() for r in caplog.records if PLOTS_INSTALL in r.getMessage()]
    assert len(notices) == 1  # three drawings skipped, one notice
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 2
    assert not (tmp_path / CURVE_FILE).exists() and not stale.exists()
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert CURVE_FILE not in card and "## Validation perplexity" in card
