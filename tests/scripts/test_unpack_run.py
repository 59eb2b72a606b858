"""scripts/default_model/unpack_run.py: the arguments of the script that rebuilds a bundle."""

import pytest


def test_a_directory_without_the_packed_manifest_is_refused_by_name(tmp_path, capsys, load_script):
    unpack_run = load_script("unpack_run")
    with pytest.raises(SystemExit) as stopped:
        unpack_run.parse_args([str(tmp_path), str(tmp_path / "bundle")])
    assert stopped.value.code == 2
    assert f"{tmp_path} has no weights.json" in capsys.readouterr().err


def test_missing_arguments_print_the_usage_not_a_traceback(capsys, load_script):
    unpack_run = load_script("unpack_run")
    with pytest.raises(SystemExit) as stopped:
        unpack_run.parse_args([])
    assert stopped.value.code == 2
    assert "the following arguments are required: packed, target" in capsys.readouterr().err


def test_packed_parts_and_a_target_are_accepted(tmp_path, load_script):
    (tmp_path / "weights.json").write_text("{}\n", encoding="utf-8")
    args = load_script("unpack_run").parse_args([str(tmp_path), str(tmp_path / "bundle")])
    assert args.packed == tmp_path and args.target == tmp_path / "bundle"
