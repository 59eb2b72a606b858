import json

from elmo.cli import main
from elmo.io.bundle import load_bundle
from factories import ELMO_REFERENCE


def test_convert_writes_a_loadable_bundle(tmp_path, capsys):
    out = tmp_path / "bundle"
    code = main(
        [
            "convert",
            str(ELMO_REFERENCE / "options.json"),
            str(ELMO_REFERENCE / "weights.hdf5"),
            str(out),
        ]
    )
    assert code == 0
    assert "model.safetensors" in capsys.readouterr().out
    assert load_bundle(out).config.recurrent.hidden_size == 32


def test_convert_writes_a_card_naming_the_original_files_by_hash(tmp_path):
    import hashlib

    out = tmp_path / "bundle"
    weights = ELMO_REFERENCE / "weights.hdf5"
    assert main(["convert", str(ELMO_REFERENCE / "options.json"), str(weights), str(out)]) == 0
    card = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert hashlib.sha256(weights.read_bytes()).hexdigest() in card
    assert "2 biLSTM layers of 32 cells projected to 16" in card


def test_convert_refuses_a_directory_with_files_unless_forced(tmp_path, capsys):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    args = ["convert", str(ELMO_REFERENCE / "options.json"), str(ELMO_REFERENCE / "weights.hdf5")]
    assert main([*args, str(out)]) == 2
    assert f"{out} exists and is not empty" in capsys.readouterr().err
    assert not (out / "model.safetensors").exists()
    assert main([*args, str(out), "--force"]) == 0
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert load_bundle(out).config.recurrent.hidden_size == 32


def test_convert_reports_a_bad_weights_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "weights.hdf5"
    bad.write_text("garbage")
    code = main(["convert", str(ELMO_REFERENCE / "options.json"), str(bad), str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("elmo: error: ") and str(bad) in err and err.count("\n") == 1


def test_info_prints_dimensions(capsys):
    assert main(["info", "--model", str(ELMO_REFERENCE)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["layers"], summary["dim"]) == (3, 32)


def test_similarity_prints_per_layer_cosines(capsys):
    code = main(
        [
            "similarity",
            "--model",
            str(ELMO_REFERENCE),
            "--word",
            "gato",
            "El gato come pescado .",
            "Para cambiar la rueda , levanté el auto con el gato .",
        ]
    )
    assert code == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert "layer 0: 1.0000" in line
    cosines = [float(part.split(": ")[1]) for part in line.split(": ", 1)[1].split("  ")]
    assert len(cosines) == 3 and cosines[1] < 0.999 and cosines[2] < 0.999


def test_similarity_names_the_sentence_missing_the_word(capsys):
    code = main(["similarity", "--model", str(ELMO_REFERENCE), "--word", "perro", "a b", "c d"])
    assert code == 2
    assert "sentence 1 does not contain the token 'perro'" in capsys.readouterr().err


def test_similarity_needs_two_sentences(capsys):
    assert main(["similarity", "--model", str(ELMO_REFERENCE), "--word", "a", "a b"]) == 2
    assert "needs at least two sentences" in capsys.readouterr().err


def test_similarity_splits_punctuation_from_the_word_as_embed_does(capsys):
    code = main(
        [
            "similarity",
            "--model",
            str(ELMO_REFERENCE),
            "--word",
            "bank",
            "We sat on the bank.",
            "She went to the bank, then home.",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.splitlines()[-1].startswith("sentence 2: layer 0: 1.0000")


def test_similarity_pretokenized_splits_on_spaces_only_and_names_the_tokens(capsys):
    args = ["similarity", "--model", str(ELMO_REFERENCE), "--word", "bank", "--pretokenized"]
    assert main([*args, "the bank .", "a bank."]) == 2
    assert "sentence 2 does not contain the token 'bank' (its tokens: a bank.)" in (
        capsys.readouterr().err
    )


def test_a_closed_output_pipe_is_not_an_error_and_prints_no_traceback():
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes: every write fails
    try:
        done = subprocess.run(
            [sys.executable, "-m", "elmo.cli", "info", "--model", str(ELMO_REFERENCE)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141  # 128 + SIGPIPE, as cat or grep stopped by a closed pipe


def test_train_records_paths_below_home_as_tilde_paths_and_quotes_the_rest():
    from elmo.cli.train import shown_command

    argv = [
        "train",
        "--train",
        "/home/ana/.cache/elmo/corpus/train.txt",
        "--output",
        "/srv/runs/a b",
        "--set",
        'run.init_from="models/default"',
        "--valid",
        "/home/anabel/valid.txt",
    ]
    assert shown_command(argv, home="/home/ana/") == (
        "elmo train --train ~/.cache/elmo/corpus/train.txt --output '/srv/runs/a b' "
        "--set 'run.init_from=\"models/default\"' --valid /home/anabel/valid.txt"
    )
    # a path below home that needs quoting keeps its full, quoted form
    assert shown_command(["/home/ana/my runs"], home="/home/ana") == "elmo '/home/ana/my runs'"


def test_train_records_a_home_path_inside_a_setting_as_a_tilde_path():
    from elmo.cli.train import shown_command

    argv = ["train", "--set", 'run.init_from="/home/ana/bundles/wide"', "--output", "/home/anabel"]
    assert shown_command(argv, home="/home/ana") == (
        "elmo train --set 'run.init_from=\"~/bundles/wide\"' --output /home/anabel"
    )
    # only in settings: elsewhere a quoted ~ would reach elmo unexpanded
    assert shown_command(["--output=/home/ana/runs"], home="/home/ana") == (
        "elmo --output=/home/ana/runs"
    )


def test_home_as_tilde_rewrites_only_paths_that_start_at_home():
    from elmo.training.model_card import home_as_tilde

    text = '{"a": "/home/ana/x", "b": "/home/anabel/y", "c": "/srv/home/ana/z", "d": "/home/ana"}'
    assert home_as_tilde(text, home="/home/ana/") == (
        '{"a": "~/x", "b": "/home/anabel/y", "c": "/srv/home/ana/z", "d": "~"}'
    )
