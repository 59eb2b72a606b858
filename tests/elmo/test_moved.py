import importlib
import sys
from pathlib import Path

import pytest

import elmo
from elmo.inference import embedder
from elmo.moved import MOVED

PACKAGE = Path(elmo.__file__).parent


def test_an_old_module_path_warns_and_is_the_module_at_its_new_path(monkeypatch):
    monkeypatch.delitem(sys.modules, "elmo.embedder", raising=False)
    with pytest.warns(DeprecationWarning, match="elmo.embedder moved to elmo.inference.embedder"):
        old = importlib.import_module("elmo.embedder")
    assert old is embedder
    assert old.Embedder is elmo.Embedder
    assert old.__spec__.name == "elmo.inference.embedder"  # the module still names its own file


def test_from_import_of_an_old_path_gives_the_new_names(monkeypatch):
    monkeypatch.delitem(sys.modules, "elmo.train_config", raising=False)
    with pytest.warns(DeprecationWarning):
        from elmo.train_config import load_train_config
    from elmo.training.config import load_train_config as new

    assert load_train_config is new


@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_old_path_names_a_module_that_exists_and_no_file_of_its_own(old):
    new = MOVED[old]
    assert importlib.util.find_spec(new) is not None, new
    assert not (PACKAGE / f"{old.removeprefix('elmo.')}.py").exists()


def test_an_unknown_module_is_still_not_found():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("elmo.no_such_module")
