"""``elmo.tasks`` and ``elmo task`` on a tiny random biLM and data with a learnable rule."""

import io
import json

import pytest
import torch
from safetensors.torch import load_file

from elmo.cli import main
from elmo.errors import ConfigError, InvalidInputError
from elmo.io.bundle import save_bundle
from elmo.io.registry import sha256_file
from elmo.nn.bilm import BiLM
from elmo.tasks import TaskConfig, load_task, read_dataset, read_inputs, train_task
from elmo.tasks.train import CHECKPOINT_FILE
from factories import labelled_sentences, tiny_model, write_labelled


@pytest.fixture(autouse=True)
def _one_thread():
    """Small products: a second thread only waits for the first (and for a busy core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)  # the other modules' setting (tests/conftest.py)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    save_bundle(tiny_model(), root / "model")
    for split, count, seed in (("train", 40, 1), ("valid", 20, 2), ("test", 20, 3)):
        write_labelled(root, split, labelled_sentences(count, seed))
    return root


def _config(**overrides) -> TaskConfig:
    settings = {"epochs": 10, "batch_size": 8, "lr": 0.05, "dropout": 0.0, "patience": 100}
    return TaskConfig(**(settings | overrides))


def _train(files, output, task="classify", suffix="tsv", **overrides):
    return train_task(
        _config(task=task, **overrides),
        files / "model",
        read_dataset(files / f"train.{suffix}", task),
        read_dataset(files / f"valid.{suffix}", task),
        output,
        progress=False,
    )


def test_classifier_lowers_validation_loss_and_beats_chance(files, tmp_path):
    result = _train(files, tmp_path / "out")
    losses = [h["valid_loss"] for h in result.history]
    assert min(losses[-3:]) < losses[0] - 0.05
    assert result.validation["accuracy"] >= 0.7  # chance: 0.5
    assert 0 < result.validation["macro_f1"] <= 1
    assert result.epochs == 10 and len(result.history) == 10


def test_tagger_learns_the_tags_and_reloads_to_identical_predictions(files, tmp_path):
    result = _train(files, tmp_path / "out", task="tag", suffix="conll", head="bilstm")
    tags = [t for e in read_dataset(files / "valid.conll", "tag").examples for t in e.tags]
    majority = max(tags.count(t) for t in set(tags)) / len(tags)
    assert majority < 0.45 and result.validation["accuracy"] >= 0.6
    sentences = [words for _, words, _ in labelled_sentences(12, 7)]
    before = result.predictor.predict(sentences)
    reloaded = load_task(tmp_path / "out")
    assert reloaded.predict(sentences) == before
    one_by_one = reloaded.predict(sentences, batch_size=1)  # padding changes no tag
    assert [p["tags"] for p in one_by_one] == [p["tags"] for p in before]
    assert before[0]["tokens"] == sentences[0] and len(before[0]["tags"]) == len(sentences[0])
    assert set(before[0]["probabilities"][0]) == {"NEG", "O", "POS"}
    assert reloaded.evaluate(read_dataset(files / "valid.conll", "tag")) == result.validation


@pytest.mark.parametrize("task", ["classify", "tag"])
def test_a_linear_heads_probabilities_have_the_same_bits_alone_and_in_any_batch(
    files, tmp_path, task
):
    suffix = "tsv" if task == "classify" else "conll"
    predictor = _train(files, tmp_path / "out", task=task, suffix=suffix, epochs=2).predictor
    sentences = [words for _, words, _ in labelled_sentences(9, 11)]
    together = predictor.predict(sentences, batch_size=9)
    assert predictor.predict(sentences, batch_size=4) == together
    assert [predictor.predict([s])[0] for s in sentences] == together


def test_the_frozen_bilm_runs_once_and_training_ends_as_without_keeping_its_layers(
    files, tmp_path, monkeypatch
):
    from elmo.inference.module import Elmo
    from elmo.tasks.heads import TaskModel

    calls = []
    layers = Elmo.layers

    def counted(self, sentences):
        calls.append(len(sentences))
        return layers(self, sentences)

    monkeypatch.setattr(Elmo, "layers", counted)
    kept = _train(files, tmp_path / "kept", epochs=4)
    distinct = 40 + 20  # train and valid sentences, each run once (the final scores: again)
    assert sum(calls) <= distinct + 20 + 20  # not 4 epochs x 60
    monkeypatch.setattr(TaskModel, "remember", lambda self, sentences, batch_size=64: None)
    fresh = _train(files, tmp_path / "fresh", epochs=4)
    a = load_file(str(kept.output / "head.safetensors"))
    b = load_file(str(fresh.output / "head.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert kept.validation == fresh.validation


def test_a_mix_of_layer_zero_alone_trains_and_reloads(files, tmp_path):
    result = _train(files, tmp_path / "out", epochs=3, layers=(0,))
    heads = load_file(str(result.output / "head.safetensors"))
    assert heads["elmo.mixes.0.weights"].shape == (1,)  # one layer in the mix
    sentences = [words for _, words, _ in labelled_sentences(6, 9)]
    assert load_task(tmp_path / "out").predict(sentences) == result.predictor.predict(sentences)
    with pytest.raises(ConfigError, match=r"the biLM has layers 0\.\.2"):
        _train(files, tmp_path / "bad", epochs=1, layers=(3,))
    with pytest.raises(ConfigError, match="distinct indices"):
        TaskConfig(layers=(0, 0))


def test_a_task_on_a_weightless_shared_bilm_predicts_from_layers_as_on_its_own(files, tmp_path):
    _train(files, tmp_path / "out", epochs=2)
    own = load_task(tmp_path / "out")
    with torch.device("meta"):  # what a server's process holds when a child runs the biLM
        skeleton = BiLM(own.model.elmo.bilm.config)
    shared = load_task(tmp_path / "out", model=files / "model", bilm=skeleton)
    assert shared.model.elmo.bilm is skeleton
    assert all(p.device.type == "cpu" for p in shared.model.output.parameters())
    sentences = [words for _, words, _ in labelled_sentences(5, 13)]
    with torch.inference_mode():
        layers, _ = own.model.elmo.layers(sentences)  # (L, B, T, 2D)
    arrays = [layers[:, b, : len(s)].numpy() for b, s in enumerate(sentences)]
    assert shared.predict_layers(arrays, sentences) == own.predict(sentences)


def test_the_bundle_names_the_base_model_by_hash_and_holds_no_pickle(files, tmp_path):
    result = _train(files, tmp_path / "out", epochs=2)
    document = json.loads((result.output / "task.json").read_text(encoding="utf-8"))
    assert document["model"]["sha256"] == sha256_file(files / "model" / "model.safetensors")
    assert document["labels"] == ["neg", "pos"] and document["config"]["epochs"] == 2
    heads = load_file(str(result.output / "head.safetensors"))
    assert heads and not any(k.startswith("elmo.bilm.") for k in heads)
    assert "elmo.mixes.0.gamma" in heads
    assert sorted(p.name for p in result.output.iterdir()) == [
        "TASK_CARD.md",
        "head.safetensors",
        "task.json",
    ]  # the checkpoint is gone once the bundle is written
    card = (result.output / "TASK_CARD.md").read_text(encoding="utf-8")
    assert "`train.tsv` | 40 | 40" in card and document["model"]["sha256"] in card


def test_a_resumed_run_continues_its_epochs_and_ends_where_an_unbroken_run_ends(files, tmp_path):
    unbroken = _train(files, tmp_path / "a", epochs=4)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    config = _config(epochs=4)
    data = (
        read_dataset(files / "train.tsv", "classify"),
        read_dataset(files / "valid.tsv", "classify"),
    )
    with pytest.raises(KeyboardInterrupt):
        train_task(
            config, files / "model", *data, tmp_path / "b", progress=False, on_epoch=stop_after_two
        )
    assert (tmp_path / "b" / CHECKPOINT_FILE).exists() and not (
        tmp_path / "b" / "task.json"
    ).exists()
    resumed = train_task(config, files / "model", *data, tmp_path / "b", progress=False)
    assert resumed.resumed_at == 2 and resumed.epochs == 4
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.history == unbroken.history
    a, b = (
        load_file(str(tmp_path / "a" / "head.safetensors")),
        load_file(str(tmp_path / "b" / "head.safetensors")),
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_another_run_is_not_resumed(files, tmp_path):
    def stop(record):
        raise KeyboardInterrupt

    data = (
        read_dataset(files / "train.tsv", "classify"),
        read_dataset(files / "valid.tsv", "classify"),
    )
    with pytest.raises(KeyboardInterrupt):
        train_task(_config(), files / "model", *data, tmp_path, progress=False, on_epoch=stop)
    with pytest.raises(InvalidInputError, match=r"checkpoint of another run \(differs in: lr\)"):
        train_task(_config(lr=0.01), files / "model", *data, tmp_path, progress=False)


@pytest.mark.parametrize(
    "name, content, task, message",
    [
        (
            "a.tsv",
            "pos\tgood film\nneg\tbad\tfilm\n",
            "classify",
            r"a\.tsv:2: expected 2 tab-separated columns \(label, text\), found 3",
        ),
        (
            "a.tsv",
            "pos good film\n",
            "classify",
            r"a\.tsv:1: expected 2 tab-separated columns .* found 1",
        ),
        ("a.tsv", "pos\tgood\n\nneg\t   \n", "classify", r"a\.tsv:3: empty text"),
        ("a.tsv", "\tgood film\n", "classify", r"a\.tsv:1: empty label"),
        (
            "a.jsonl",
            '{"text": "good", "label": "pos"}\n{"text": "bad", \n',
            "classify",
            r"a\.jsonl:2: not valid JSON",
        ),
        ("a.jsonl", '{"label": "pos"}\n', "classify", r'a\.jsonl:1: expected "text"'),
        ("a.jsonl", '{"text": "good"}\n', "classify", r"a\.jsonl:1: missing key\(s\) \['label'\]"),
        ("a.jsonl", '["good"]\n', "classify", r"a\.jsonl:1: expected a JSON object, got list"),
        (
            "a.conll",
            "good\tPOS\n\nbad NEG extra\n",
            "tag",
            r"a\.conll:3: expected 2 columns \(token, tag\)",
        ),
        ("a.conll", "good\n", "tag", r"a\.conll:1: expected 2 columns"),
        (
            "a.jsonl",
            '{"tokens": ["good", "film"], "tags": ["POS"]}\n',
            "tag",
            r"a\.jsonl:1: 2 tokens but 1 tags",
        ),
        (
            "a.jsonl",
            '{"tokens": ["good", ""], "tags": ["POS", "O"]}\n',
            "tag",
            r'a\.jsonl:1: "tokens" must be',
        ),
        ("a.tsv", b"pos\tgood\nneg\t\xff\xfe\n", "classify", r"a\.tsv:2: not valid UTF-8"),
        ("a.tsv", "\n\n", "classify", r"a\.tsv: no examples"),
        ("missing.tsv", None, "classify", r"missing\.tsv: no such file"),
    ],
)
def test_a_bad_file_names_its_line(tmp_path, name, content, task, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        read_dataset(path, task)


def test_a_label_unseen_in_training_names_the_validation_line(files, tmp_path):
    (tmp_path / "valid.tsv").write_text("pos\tgood film\nmaybe\tfine film\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"valid\.tsv:2: label 'maybe' is not one of the 2"):
        train_task(
            _config(),
            files / "model",
            read_dataset(files / "train.tsv", "classify"),
            read_dataset(tmp_path / "valid.tsv", "classify"),
            tmp_path / "out",
            progress=False,
        )


def test_jsonl_formats_read_like_their_text_forms(tmp_path):
    (tmp_path / "c.jsonl").write_text(
        '{"text": "good film!", "label": "pos"}\n\n{"tokens": ["bad", "film"], "label": "neg"}\n',
        encoding="utf-8",
    )
    examples = read_dataset(tmp_path / "c.jsonl", "classify").examples
    assert [(e.tokens, e.label, e.line) for e in examples] == [
        (["good", "film", "!"], "pos", 1),
        (["bad", "film"], "neg", 3),
    ]
    (tmp_path / "t.conll").write_text(
        "-DOCSTART- O\n\ngood POS\nfilm\tO\n\n\nbad NEG\n", encoding="utf-8"
    )
    tagged = read_dataset(tmp_path / "t.conll", "tag")
    assert [(e.tokens, e.tags, e.line) for e in tagged.examples] == [
        (["good", "film"], ["POS", "O"], 3),
        (["bad"], ["NEG"], 7),
    ]
    (tmp_path / "p.jsonl").write_text(
        '"good film"\n["a", "b"]\n{"text": "x y", "label": "z"}\n', encoding="utf-8"
    )
    assert read_inputs(tmp_path / "p.jsonl") == [
        (1, ["good", "film"]),
        (2, ["a", "b"]),
        (3, ["x", "y"]),
    ]


def test_cli_train_evaluate_predict_round_trip(files, tmp_path, capsys, monkeypatch):
    output = tmp_path / "polarity"
    argv = [
        "task",
        "train",
        "--task",
        "classify",
        "--train",
        str(files / "train.tsv"),
        "--valid",
        str(files / "valid.tsv"),
        "--test",
        str(files / "test.tsv"),
        "--model",
        str(files / "model"),
        "--output",
        str(output),
        "--epochs",
        "6",
        "--lr",
        "0.05",
        "--dropout",
        "0",
        "--batch-size",
        "8",
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "validation: accuracy" in out and "test: accuracy" in out and f"wrote {output}" in out
    card = (output / "TASK_CARD.md").read_text(encoding="utf-8")
    assert "elmo task train --task classify" in card and "--epochs 6" in card

    assert main(["task", "evaluate", str(output), str(files / "test.tsv"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    document = json.loads((output / "task.json").read_text(encoding="utf-8"))
    assert scores["accuracy"] == document["scores"]["test"]["accuracy"]
    assert scores["examples"] == 20 and "macro_f1" in scores

    (tmp_path / "in.txt").write_text("good nice film\n\nbad, awful plot\n", encoding="utf-8")
    assert main(["task", "predict", str(output), str(tmp_path / "in.txt")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in records] == [1, 3]
    assert set(records[0]) == {"line", "label", "probabilities"}
    assert records[0]["probabilities"].keys() == {"neg", "pos"}
    assert sum(records[0]["probabilities"].values()) == pytest.approx(1.0)

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"good nice film\n")))
    assert main(["task", "predict", str(output)]) == 0
    assert json.loads(capsys.readouterr().out) == records[0]

    assert main(argv) == 2  # a finished bundle is not overwritten silently
    assert "holds a finished task model; pass --force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["task", "evaluate", "nowhere", "x.tsv"], "nowhere: no task.json"),
        (
            [
                "task",
                "train",
                "--task",
                "tag",
                "--train",
                "missing.conll",
                "--valid",
                "v",
                "--output",
                "o",
            ],
            "missing.conll: no such file",
        ),
        (
            [
                "task",
                "train",
                "--task",
                "tag",
                "--train",
                "t",
                "--valid",
                "v",
                "--output",
                "o",
                "--epochs",
                "0",
            ],
            "epochs must be >= 1",
        ),
    ],
)
def test_cli_errors_are_one_line_and_status_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("elmo: error: ") and message in err and err.count("\n") == 1


def test_a_fine_tuned_bundle_carries_the_bilm_weights_it_changed(files, tmp_path):
    result = _train(files, tmp_path / "out", epochs=1, fine_tune=True)
    heads = load_file(str(tmp_path / "out" / "head.safetensors"))
    assert any(k.startswith("elmo.bilm.") for k in heads)
    assert not any(k.startswith("elmo.bilm.lm_head.") for k in heads)
    base = load_file(str(files / "model" / "model.safetensors"))
    changed = [k for k in heads if k.startswith("elmo.bilm.")]
    assert any(not torch.equal(heads[k], base[k.removeprefix("elmo.bilm.")]) for k in changed)
    sentences = [words for _, words, _ in labelled_sentences(6, 9)]
    assert load_task(tmp_path / "out").predict(sentences) == result.predictor.predict(sentences)
