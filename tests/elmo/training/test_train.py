"""Training end to end on the tiny Moby-Dick fixture (CPU)."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import elmo.training.loop
from elmo.cli import main
from elmo.errors import ConfigError, WeightFileError
from elmo.inference.embedder import Embedder
from elmo.tokenization import SentencePieceUnits
from elmo.training.config import load_train_config
from elmo.training.data import encode_corpus
from elmo.training.loop import train
from elmo.training.prepare import prepare_data
from factories import FIXTURES

CORPUS = FIXTURES / "corpus"
TINY = Path(__file__).parents[3] / "configs" / "tiny.toml"


def unigram_perplexity(run: Path) -> float:
    """Perplexity of the validation units that the LM predicts, under an add-one unigram model
    of the training units, with the run's own tokenizer."""
    units = SentencePieceUnits.load(run / "model" / "tokenizer.model")
    train_ids = encode_corpus(CORPUS / "train.txt", units, 48, run / "cache")
    valid_ids = encode_corpus(CORPUS / "valid.txt", units, 48, run / "cache")
    counts = np.bincount(np.asarray(train_ids.units), minlength=units.vocab_size) + 1.0
    log_p = np.log(counts / counts.sum())
    targets = np.concatenate(
        [valid_ids.units[s + 1 : e] for s, e in zip(valid_ids.starts, valid_ids.ends, strict=True)]
    )
    return float(np.exp(-log_p[targets].mean()))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    config = load_train_config(TINY, [])
    result = train(config, CORPUS / "train.txt", CORPUS / "valid.txt", run, command="pytest")
    return run, result


def test_validation_perplexity_ends_far_below_unigram(trained):
    run, result = trained
    joint = math.sqrt(result.valid_ppl_forward * result.valid_ppl_backward)
    unigram = unigram_perplexity(run)
    assert joint < 0.6 * unigram, (joint, unigram)
    assert max(result.valid_ppl_forward, result.valid_ppl_backward) < 0.75 * unigram


def test_metrics_are_logged_per_evaluation(trained):
    run, _ = trained
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [100, 200, 300, 400]
    for record in records:
        for key in ("step", "tokens", "valid_ppl_forward", "valid_ppl_backward", "valid_ppl"):
            assert isinstance(record[key], (int, float)) and record[key] > 0, key
    assert records[-1]["valid_ppl"] < records[0]["valid_ppl"]
    assert records[0]["tokens"] < records[-1]["tokens"]


def test_exported_bundle_loads_embeds_and_has_a_model_card(trained):
    _, result = trained
    bundle = result.bundle
    assert {p.name for p in bundle.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "tokenizer.model",
        "MODEL_CARD.md",
    }
    embedder = Embedder.from_pretrained(bundle)
    arrays = embedder.embed_tokens([["Call", "me", "Ishmael", "."], ["whale"]])
    assert arrays[0].shape == (3, 4, 64) and arrays[1].shape == (3, 1, 64)
    assert np.isfinite(arrays[0]).all()
    for pooling in ("mean", "first", "last"):
        pooled = embedder.embed_tokens([[], ["Ishmael", "\ufeff"]], unit_pooling=pooling)
        assert pooled[0].shape == (3, 0, 64) and pooled[1].shape == (3, 2, 64)
        assert np.isfinite(pooled[1]).all()
    first, last = (
        embedder.embed_tokens([["Ishmael"]], unit_pooling=p)[0] for p in ("first", "last")
    )
    assert not np.allclose(first, last)  # "Ishmael" is several pieces
    card = (bundle / "MODEL_CARD.md").read_text()
    for fact in ("command: `pytest`", "steps: 400", "tokens seen", "wall time", "train.txt"):
        assert fact in card, fact
    assert f"{result.valid_ppl_forward:.2f}" in card


def test_checkpoints_are_kept_up_to_the_limit(trained):
    run, _ = trained
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["step_00000200", "step_00000300", "step_00000400"]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


def test_a_killed_and_resumed_run_ends_bit_identical(tmp_path):
    settings = [
        "run.max_steps=24",
        "run.checkpoint_every=8",
        "run.eval_every=4",
        "optim.total_steps=24",
        "optim.decay=cosine",
        "data.batch_tokens=512",
        "model.dropout=0.1",  # the dropout RNG must resume too
    ]
    whole = tmp_path / "whole"
    train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", whole)
    split = tmp_path / "split"
    stopped = load_train_config(TINY, [*settings, "run.max_steps=13"])
    train(stopped, CORPUS / "train.txt", CORPUS / "valid.txt", split)
    # as if killed after step 13 but before its checkpoint: the newest one left is step 8
    shutil.rmtree(split / "checkpoints" / "step_00000013")
    train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", split)
    a, b = _weights(whole), _weights(split)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    steps = [
        json.loads(line)["step"] for line in (split / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [4, 8, 12, 16, 20, 24]


def test_resuming_with_another_config_is_refused(tmp_path):
    settings = ["run.max_steps=2", "data.batch_tokens=512"]
    train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    changed = load_train_config(TINY, [*settings, "optim.lr=0.1"])
    with pytest.raises(ConfigError, match="another config"):
        train(changed, CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)


def test_cli_trains_with_overrides_and_prints_the_result(tmp_path, capsys):
    text = tmp_path / "elsewhere" / "my-corpus.txt"  # outside the working directory
    text.parent.mkdir()
    text.write_bytes((CORPUS / "train.txt").read_bytes())
    code = main(
        [
            "train",
            "--train",
            str(text),
            "--output",
            str(tmp_path / "run"),
            "--config",
            str(TINY),
            "--max-steps",
            "3",
            "--set",
            "data.batch_tokens=512",
        ]
    )
    assert code == 0
    assert "validation perplexity forward" in capsys.readouterr().out
    card = (tmp_path / "run" / "model" / "MODEL_CARD.md").read_text()
    assert "held out of the training text" in card  # no --valid: part of the text was held out
    # the card names the text, not where it lay on this machine
    assert "training text: `my-corpus.txt`" in card and str(tmp_path) not in card


def test_rerunning_a_finished_run_changes_nothing(tmp_path):
    settings = ["run.max_steps=2", "data.batch_tokens=512"]
    config = load_train_config(TINY, settings)
    first = train(config, CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    again = train(config, CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    assert again.state.step == first.state.step == 2
    assert (tmp_path / "metrics.jsonl").read_text().splitlines() == lines
    assert again.valid_ppl_forward == first.valid_ppl_forward


def test_a_time_limit_stops_the_run_and_keeps_a_checkpoint(tmp_path):
    config = load_train_config(
        TINY, ["run.max_time_s=0.5", "run.log_every=1", "data.batch_tokens=512"]
    )
    result = train(config, CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    assert 0 < result.state.step < 400
    assert (tmp_path / "checkpoints" / f"step_{result.state.step:08d}").is_dir()
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_held_out_lines_are_never_trained_on(tmp_path):
    config = load_train_config(
        TINY, ["run.max_steps=1", "data.max_units=8", "run.valid_fraction=0.2"]
    )
    data = prepare_data(config, CORPUS / "train.txt", None, tmp_path, True, lambda: None)
    assert len(set(data.train.lines) & set(data.valid.lines)) == 0
    assert len(data.valid) > 0 and len(np.unique(data.train.lines)) > len(
        np.unique(data.valid.lines)
    )


def test_a_tokenizer_from_other_settings_is_not_reused(tmp_path):
    train(load_train_config(TINY, ["run.max_steps=1"]), CORPUS / "train.txt", None, tmp_path)
    other = load_train_config(TINY, ["run.max_steps=1", "tokenizer.vocab_size=500"])
    with pytest.raises(ConfigError, match="trained on other text or with other"):
        train(other, CORPUS / "train.txt", None, tmp_path)


def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["train", "--train", str(CORPUS / "train.txt"), "--output", str(target)]) == 2
    assert "must be a directory" in capsys.readouterr().err


def test_training_on_encoded_directories_equals_training_on_the_text(tmp_path):
    settings = ["run.max_steps=6", "run.eval_every=3", "run.checkpoint_every=6"]
    text_run = tmp_path / "text"
    config = load_train_config(TINY, settings)
    train(config, CORPUS / "train.txt", CORPUS / "valid.txt", text_run)
    units = SentencePieceUnits.load(text_run / "model" / "tokenizer.model")
    encoded = [
        encode_corpus(CORPUS / name, units, config.data.max_units, text_run / "cache").key
        for name in ("train.txt", "valid.txt")
    ]
    moved = [shutil.copytree(text_run / "cache" / k, tmp_path / f"enc{i}") for i, k in
             enumerate(encoded)]  # fmt: skip
    tokenizer = shutil.copy(text_run / "model" / "tokenizer.model", tmp_path / "tok.model")
    encoded_run = tmp_path / "encoded"
    with_tokenizer = load_train_config(TINY, [*settings, f'tokenizer.model="{tokenizer}"'])
    train(with_tokenizer, moved[0], moved[1], encoded_run)
    a, b = _weights(text_run), _weights(encoded_run)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_an_encoded_corpus_without_its_tokenizer_is_refused(tmp_path):
    run = tmp_path / "run"
    train(load_train_config(TINY, ["run.max_steps=1"]), CORPUS / "train.txt", None, run)
    (key,) = [p for p in (run / "cache").iterdir()]
    with pytest.raises(ConfigError, match=r"is an encoded corpus: set tokenizer\.model"):
        train(load_train_config(TINY, []), key, None, tmp_path / "again")


def test_training_runs_on_run_threads_and_gives_the_caller_its_threads_back(tmp_path, monkeypatch):
    # One thread (the default) is what makes CPU runs bit-reproducible by construction: no
    # product or reduction is split between threads.
    seen = []
    run = elmo.training.loop._Loop.run

    def spy(self, started):
        seen.append(torch.get_num_threads())
        return run(self, started)

    monkeypatch.setattr(elmo.training.loop._Loop, "run", spy)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for threads, name in ((None, "a"), (None, "b"), (2, "c")):
            settings = ["run.max_steps=6", "data.batch_tokens=2048", "model.dropout=0.1"]
            if threads:
                settings.append(f"run.threads={threads}")
            config = load_train_config(TINY, settings)
            train(config, CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path / name)
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert seen == [1, 1, 2]
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_run_resumes_with_another_thread_count(tmp_path):
    settings = ["run.max_steps=2", "data.batch_tokens=512"]
    train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    more = load_train_config(TINY, [*settings, "run.max_steps=3", "run.threads=2"])
    result = train(more, CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    assert result.state.step == 3


def test_a_warm_start_begins_from_a_bundles_weights_and_records_it(trained, tmp_path):
    first, result = trained
    bundle = first / "model"
    tokenizer = str(bundle / "tokenizer.model")
    settings = [
        "run.max_steps=1",
        "data.batch_tokens=512",
        "optim.lr=1e-30",  # a step that moves nothing: the weights are the bundle's
        "optim.warmup_steps=1",
        f"tokenizer.model={json.dumps(tokenizer)}",
        f"run.init_from={json.dumps(str(bundle))}",
    ]
    run = tmp_path / "warm"
    train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", run)
    before, after = _weights(first), _weights(run)
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=1e-6)
    record = json.loads((run / "model" / "config.json").read_text())["training"]
    assert record["steps"] == 1 and record["continued"]["from"] == str(bundle)
    assert record["continued"]["steps"] == result.state.step
    card = (run / "model" / "MODEL_CARD.md").read_text()
    assert f"warm start: from the weights of `{bundle}` ({result.state.step} steps" in card
    assert f"in all, with the runs before: {result.state.step + 1} steps" in card
    cold = tmp_path / "cold"
    train(load_train_config(TINY, settings[:-1]), CORPUS / "train.txt", CORPUS / "valid.txt", cold)
    fresh = _weights(cold)
    assert not any(torch.allclose(fresh[key], before[key]) for key in before if "weight" in key)
    assert "warm start" not in (cold / "model" / "MODEL_CARD.md").read_text()


def test_a_warm_start_from_below_home_is_read_from_a_tilde_path_and_recorded_as_one(
    trained, tmp_path, monkeypatch
):
    first, _ = trained
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(first / "model", tmp_path / "bundles" / "b")
    settings = [
        "run.max_steps=1",
        "data.batch_tokens=512",
        "optim.warmup_steps=1",
        f"tokenizer.model={json.dumps(str(tmp_path / 'bundles' / 'b' / 'tokenizer.model'))}",
        'run.init_from="~/bundles/b"',
    ]
    run = tmp_path / "warm"
    train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", run)
    record = json.loads((run / "model" / "config.json").read_text())["training"]
    assert record["continued"]["from"] == "~/bundles/b"
    card = (run / "model" / "MODEL_CARD.md").read_text()
    assert "warm start: from the weights of `~/bundles/b`" in card
    assert '"model": "~/bundles/b/tokenizer.model"' in card  # the configuration's paths too
    assert str(tmp_path) not in card and str(tmp_path) not in (run / "warm_start.json").read_text()


def test_a_grown_warm_start_begins_at_the_bundles_perplexity_and_says_so(trained, tmp_path):
    first, result = trained
    bundle = first / "model"
    settings = [
        "run.max_steps=1",
        "data.batch_tokens=512",
        "optim.lr=1e-30",  # a step that moves nothing: the perplexity is the grown start's
        "optim.warmup_steps=1",
        f"tokenizer.model={json.dumps(str(bundle / 'tokenizer.model'))}",
        f"run.init_from={json.dumps(str(bundle))}",
        "run.init_grow=true",
        "model.recurrent.hidden_size=96",
        "model.recurrent.projection_size=48",
    ]
    run = tmp_path / "grown"
    config = load_train_config(TINY, settings)
    grown = train(config, CORPUS / "train.txt", CORPUS / "valid.txt", run)
    assert grown.valid_ppl_forward == pytest.approx(result.valid_ppl_forward, rel=1e-4)
    assert grown.valid_ppl_backward == pytest.approx(result.valid_ppl_backward, rel=1e-4)
    assert _weights(run)["lm_head.softmax.weight"].shape[1] == 48
    card = (run / "model" / "MODEL_CARD.md").read_text()
    assert "grown from hidden size 64, projection size 32 (the new units began with zero" in card
    record = json.loads((run / "model" / "config.json").read_text())["training"]
    assert record["continued"]["grown_from"] == {"hidden_size": 64, "projection_size": 32}
    narrower = [*settings[:-2], "model.recurrent.hidden_size=48"]
    refused = r"run\.init_grow: model\.recurrent\.hidden_size can only"
    with pytest.raises(ConfigError, match=refused):
        train(load_train_config(TINY, narrower), CORPUS / "train.txt", CORPUS / "valid.txt",
              tmp_path / "narrower")  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("model.recurrent.hidden_size=48", "model.recurrent.hidden_size"),
        (None, "tokenizer"),
        ("missing", "not a directory"),
    ],
)
def test_a_warm_start_from_another_architecture_tokenizer_or_no_bundle_is_refused(
    trained, tmp_path, setting, message
):
    bundle = trained[0] / "model"
    settings = ["run.max_steps=1", "data.batch_tokens=512"]
    if setting == "missing":
        settings.append(f"run.init_from={json.dumps(str(tmp_path / 'no-such-bundle'))}")
        with pytest.raises(WeightFileError, match=message):
            train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt",
                  tmp_path / "run")  # fmt: skip
        return
    settings.append(f"run.init_from={json.dumps(str(bundle))}")
    if setting is not None:
        settings += [setting, f"tokenizer.model={json.dumps(str(bundle / 'tokenizer.model'))}"]
    else:
        settings.append("tokenizer.vocab_size=320")  # a tokenizer of its own, another one
    with pytest.raises(ConfigError, match=message):
        train(
            load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path
        )


def _edit_saved_run_config(run: Path, edit) -> None:
    for state in (run / "checkpoints").glob("step_*/state.json"):
        document = json.loads(state.read_text())
        edit(document["config"]["train"]["run"])
        state.write_text(json.dumps(document))


def test_a_checkpoint_from_before_a_setting_existed_resumes_with_its_default(tmp_path):
    settings = ["run.max_steps=2", "run.checkpoint_every=1", "data.batch_tokens=512"]
    train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    _edit_saved_run_config(tmp_path, lambda run: run.pop("init_from"))  # an older version's
    more = load_train_config(TINY, [*settings, "run.max_steps=3"])
    result = train(more, CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    assert result.state.step == 3
    _edit_saved_run_config(tmp_path, lambda run: run.update(unknown_setting=1))  # a newer one's
    with pytest.raises(ConfigError, match="another config"):
        train(
            load_train_config(TINY, [*settings, "run.max_steps=4"]),
            CORPUS / "train.txt",
            CORPUS / "valid.txt",
            tmp_path,
        )


@pytest.mark.parametrize("lstm", ["auto", "loop", "fused"])
def test_run_lstm_chooses_the_gradient_path_and_auto_takes_the_loop_on_a_cpu(
    tmp_path, monkeypatch, lstm
):
    from elmo.nn.cells import LSTMPCell

    kernel_runs = []
    real = LSTMPCell.fused

    def fused(self, *args):
        kernel_runs.append(1)
        return real(self, *args)

    monkeypatch.setattr(LSTMPCell, "fused", fused)
    settings = ["run.max_steps=2", "data.batch_tokens=512", f"run.lstm={json.dumps(lstm)}"]
    train(load_train_config(TINY, settings), CORPUS / "train.txt", CORPUS / "valid.txt", tmp_path)
    assert bool(kernel_runs) == (lstm == "fused")
