"""scripts/default_model/pack_run.py: the arguments of the script that packs a training run."""

import pytest


def test_a_directory_that_is_not_a_finished_run_is_refused_by_name(tmp_path, capsys, load_script):
    pack_run = load_script("pack_run")
    with pytest.raises(SystemExit) as stopped:
        pack_run.parse_args([str(tmp_path / "no-run"), str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert f"{tmp_path / 'no-run'} has no model/ directory" in capsys.readouterr().err


def test_missing_arguments_print_the_usage_not_a_traceback(capsys, load_script):
    pack_run = load_script("pack_run")
    with pytest.raises(SystemExit) as stopped:
        pack_run.parse_args([])
    assert stopped.value.code == 2
    assert "the following arguments are required: run, out" in capsys.readouterr().err


def test_bundle_may_come_before_or_after_the_directories(tmp_path, load_script):
    (tmp_path / "run" / "model").mkdir(parents=True)
    pack_run = load_script("pack_run")
    for argv in (["--bundle", "run", "out"], ["run", "out", "--bundle"]):
        args = pack_run.parse_args([str(tmp_path / a) if a != "--bundle" else a for a in argv])
        assert args.bundle and args.run == tmp_path / "run" and args.out == tmp_path / "out"
    assert not pack_run.parse_args([str(tmp_path / "run"), str(tmp_path / "out")]).bundle
