"""scripts/default_model/unpack_run.py: the arguments of the script that rebuilds a bundle."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "default_model" / "unpack_run.py"


def load_script():
    spec = importlib.util.spec_from_file_location("unpack_run", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_directory_without_the_packed_manifest_is_refused_by_name(tmp_path, capsys):
    unpack_run = load_script()
    with pytest.raises(SystemExit) as stopped:
        unpack_run.parse_args([str(tmp_path), str(tmp_path / "bundle")])
    assert stopped.value.code == 2
    assert f"{tmp_path} has no weights.json" in capsys.readouterr().err


def test_missing_arguments_print_the_usage_not_a_traceback(capsys):
    unpack_run = load_script()
    with pytest.raises(SystemExit) as stopped:
        unpack_run.parse_args([])
    assert stopped.value.code == 2
    assert "the following arguments are required: packed, target" in capsys.readouterr().err


def test_packed_parts_and_a_target_are_accepted(tmp_path):
    (tmp_path / "weights.json").write_text("{}\n", encoding="utf-8")
    args = load_script().parse_args([str(tmp_path), str(tmp_path / "bundle")])
    assert args.packed == tmp_path and args.target == tmp_path / "bundle"
