import json
import shutil

import h5py
import pytest

from elmo.errors import ConfigError, WeightFileError
from elmo.io.convert import config_from_options, load_original
from factories import ELMO_REFERENCE


@pytest.fixture
def original(tmp_path):
    shutil.copy(ELMO_REFERENCE / "options.json", tmp_path / "options.json")
    shutil.copy(ELMO_REFERENCE / "weights.hdf5", tmp_path / "weights.hdf5")
    return tmp_path / "options.json", tmp_path / "weights.hdf5"


def test_options_map_to_our_config():
    options = json.loads((ELMO_REFERENCE / "options.json").read_text())
    config = config_from_options(options)
    assert config.char_cnn.filters == ((1, 4), (2, 8), (3, 16))
    assert config.recurrent.hidden_size == 32 and config.recurrent.projection_size == 16
    assert config.recurrent.cell_clip == 3.0 and config.recurrent.residual


def test_missing_dataset_is_named(original):
    options, weights = original
    with h5py.File(weights, "a") as handle:
        del handle["CNN_high_1/W_carry"]
    with pytest.raises(WeightFileError, match=r"dataset 'CNN_high_1/W_carry' is missing"):
        load_original(options, weights)


def test_options_that_do_not_match_weights_give_expected_and_actual_shapes(original):
    options, weights = original
    document = json.loads(options.read_text())
    document["lstm"]["projection_dim"] = 8
    options.write_text(json.dumps(document))
    with pytest.raises(
        WeightFileError, match=r"'CNN_proj/W_proj' has shape \(28, 16\), expected \(28, 8\)"
    ):
        load_original(options, weights)


def test_file_that_is_not_hdf5_is_reported(original):
    options, weights = original
    weights.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(WeightFileError, match="not a readable HDF5 file"):
        load_original(options, weights)


def test_truncated_hdf5_is_reported(original):
    options, weights = original
    weights.write_bytes(weights.read_bytes()[:4000])
    with pytest.raises(WeightFileError):
        load_original(options, weights)


def test_malformed_options_are_reported(original):
    options, weights = original
    options.write_text("{not json")
    with pytest.raises(WeightFileError, match="cannot read options"):
        load_original(options, weights)
    options.write_text(json.dumps({"char_cnn": {}}))
    with pytest.raises(ConfigError, match=r"options\.json: options: missing or malformed entry"):
        load_original(options, weights)


def test_projection_as_wide_as_the_cells_is_refused():
    options = json.loads((ELMO_REFERENCE / "options.json").read_text())
    options["lstm"]["projection_dim"] = options["lstm"]["dim"]
    with pytest.raises(ConfigError, match=r"projection_dim must be smaller than lstm\.dim"):
        config_from_options(options)
