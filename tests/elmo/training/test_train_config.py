import itertools

import pytest

from elmo.cli import main
from elmo.errors import ConfigError
from elmo.training.config import OptimConfig, TrainConfig, load_train_config, to_toml
from elmo.training.optim import learning_rate
from factories import FIXTURES

TINY = FIXTURES.parents[1] / "configs" / "tiny.toml"
TRAIN = FIXTURES / "corpus" / "train.txt"


def test_shipped_tiny_config_loads():
    config = load_train_config(TINY)
    assert config.model.recurrent.hidden_size == 64 and config.model.recurrent.cell_clip is None
    assert config.tokenizer.vocab_size == 400


def test_printed_config_reads_back_identically(tmp_path):
    config = load_train_config(TINY, ["optim.lr=0.002", "run.max_time_s=60"])
    path = tmp_path / "effective.toml"
    path.write_text(to_toml(config))
    assert load_train_config(path) == config
    assert to_toml(TrainConfig()).count("[model.recurrent]") == 1


def test_overrides_parse_toml_values_and_bare_words():
    config = load_train_config(None, ["optim.name=adagrad", "data.max_units=32", "run.device=cpu"])
    assert config.optim.name == "adagrad" and config.data.max_units == 32


@pytest.mark.parametrize(
    ("content", "override", "message"),
    [
        (
            "[optim]\nlearning_rate = 0.1\n",
            None,
            r"config\.optim: unknown key\(s\) \['learning_rate'\]",
        ),
        ("[optim]\nlr = 'fast'\n", None, r"config\.optim\.lr: expected float, got 'fast'"),
        ("[optim]\nlr = -1.0\n", None, r"optim\.lr must be > 0"),
        ("[model]\nvocab_size = 10\n", None, "model.vocab_size is set from the tokenizer"),
        ("[optim\nlr = 1\n", None, "not valid TOML"),
        ("", "run.device=tpu", r"config\.run\.device: 'tpu' is not one of \['cpu', 'cuda'\]"),
        ("", "nonsense", "expected section.key=value"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path, content, override, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        load_train_config(path, [override] if override else [])
    if override is None:
        assert "bad.toml" in str(error.value)


def test_schedule_warms_up_then_decays_to_the_floor():
    config = OptimConfig(lr=1.0, warmup_steps=10, decay="cosine", min_lr_ratio=0.1)
    rates = [learning_rate(config, 110, step) for step in range(110)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert rates[10] == pytest.approx(1.0) and rates[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in itertools.pairwise(rates[10:]))
    fixed = OptimConfig(lr=1.0, warmup_steps=0, decay="linear", total_steps=100)
    assert learning_rate(fixed, 10, 50) == pytest.approx(0.55)  # horizon: total_steps


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing.txt", "missing.txt: no such file or directory"),
        (lambda d: (d / "empty.txt").write_text("\n\n") and d / "empty.txt", "no usable text"),
        (lambda d: d, "directory holds no files"),
        (lambda d: (d / "b.bin").write_bytes(b"\x00\x01\x02\n" * 5) and d / "b.bin", "5 binary"),
    ],
)
def test_train_reports_unusable_corpora_in_one_line(tmp_path, capsys, setup, message):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    path = setup(corpus_dir)
    code = main(
        ["train", "--train", str(path), "--output", str(tmp_path / "out"), "--config", str(TINY)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("elmo: error: ") and message in err, err


def test_train_reports_a_bad_config_value_in_one_line(tmp_path, capsys):
    code = main(["train", "--train", str(TRAIN), "--output", str(tmp_path), "--set", "optim.lr=0"])
    assert code == 2
    assert "optim.lr must be > 0" in capsys.readouterr().err


def test_show_config_prints_toml(capsys):
    assert main(["train", "--config", str(TINY), "--show-config"]) == 0
    out = capsys.readouterr().out
    assert "[model.recurrent]" in out and 'cell_clip = "none"' in out
