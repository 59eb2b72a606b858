import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from elmo.config import from_dict, to_dict
from elmo.errors import ConfigError, WeightFileError
from elmo.io.bundle import (
    default_model_path,
    load_bundle,
    load_config,
    load_model,
    models_dir,
    resolve_model_path,
    save_bundle,
)
from elmo.io.convert import load_original
from elmo.nn.bilm import BiLM
from elmo.nn.chars import batch_to_char_ids
from factories import ALL_CELLS, ELMO_REFERENCE, random_sentences, tiny_config, tiny_model

REPO = Path(__file__).resolve().parents[3]

# The state-dict layout of tiny_config("lstm", vocab_size=10): renaming or reshaping a parameter
# breaks every bundle already written, so it must be a deliberate change of this list.
FROZEN_LSTM_STATE_DICT = {
    "token_encoder.char_cnn.char_embedding.weight": (262, 4),
    "token_encoder.char_cnn.convolutions.0.weight": (4, 4, 1),
    "token_encoder.char_cnn.convolutions.0.bias": (4,),
    "token_encoder.char_cnn.convolutions.1.weight": (8, 4, 2),
    "token_encoder.char_cnn.convolutions.1.bias": (8,),
    "token_encoder.char_cnn.convolutions.2.weight": (8, 4, 3),
    "token_encoder.char_cnn.convolutions.2.bias": (8,),
    "token_encoder.highway.layers.0.weight": (40, 20),
    "token_encoder.highway.layers.0.bias": (40,),
    "token_encoder.projection.weight": (6, 20),
    "token_encoder.projection.bias": (6,),
    **{
        f"recurrent.{d}_stack.layers.{k}.cell.rnn.{name}": shape
        for d in ("forward", "backward")
        for k in (0, 1)
        for name, shape in (
            ("weight_ih_l0", (48, 6)),
            ("weight_hh_l0", (48, 6)),
            ("bias_ih_l0", (48,)),
            ("bias_hh_l0", (48,)),
            ("weight_hr_l0", (6, 12)),
        )
    },
    "lm_head.softmax.weight": (10, 6),
    "lm_head.softmax.bias": (10,),
}


def test_state_dict_keys_and_shapes_are_frozen():
    state = BiLM(tiny_config("lstm", vocab_size=10)).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == FROZEN_LSTM_STATE_DICT


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_save_then_load_is_bit_identical(cell, tmp_path):
    model = tiny_model(cell, seed=3, vocab_size=9)
    save_bundle(model, tmp_path / "bundle")
    loaded = load_bundle(tmp_path / "bundle")
    assert loaded.config == model.config
    ids = batch_to_char_ids(random_sentences(5, 9, seed=4))
    with torch.no_grad():
        assert torch.equal(model(ids).layers, loaded(ids).layers)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_bundle_can_drop_the_lm_head(tmp_path):
    model = tiny_model(vocab_size=9)
    save_bundle(model, tmp_path, include_lm_head=False)
    loaded = load_bundle(tmp_path)
    assert loaded.lm_head is None and loaded.config.vocab_size is None
    assert not any(k.startswith("lm_head") for k in load_file(tmp_path / "model.safetensors"))


def test_config_json_round_trips_and_rejects_unknown_keys(tmp_path):
    config = tiny_config("gru", vocab_size=5)
    assert from_dict(type(config), json.loads(json.dumps(to_dict(config)))) == config
    save_bundle(BiLM(config), tmp_path)
    document = json.loads((tmp_path / "config.json").read_text())
    document["model"]["recurrent"]["hidden_sise"] = 3
    (tmp_path / "config.json").write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"model\.recurrent: unknown key\(s\) \['hidden_sise'\]"):
        load_bundle(tmp_path)


def test_wrong_format_version_is_reported(tmp_path):
    save_bundle(tiny_model(), tmp_path)
    document = json.loads((tmp_path / "config.json").read_text())
    document["format_version"] = 99
    (tmp_path / "config.json").write_text(json.dumps(document))
    with pytest.raises(WeightFileError, match="format_version is 99"):
        load_bundle(tmp_path)


def test_missing_and_misshapen_tensors_are_named(tmp_path):
    save_bundle(tiny_model(), tmp_path)
    path = tmp_path / "model.safetensors"
    tensors = load_file(path)
    tensors.pop("token_encoder.projection.bias")
    save_file(tensors, path)
    with pytest.raises(WeightFileError, match=r"missing keys \['token_encoder.projection.bias'\]"):
        load_bundle(tmp_path)
    tensors["token_encoder.projection.bias"] = torch.zeros(7)
    save_file(tensors, path)
    with pytest.raises(WeightFileError, match=r"has shape \(7,\), expected \(6,\)"):
        load_bundle(tmp_path)


def test_truncated_weights_file_is_reported(tmp_path):
    save_bundle(tiny_model(), tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightFileError, match="cannot read weights"):
        load_bundle(tmp_path)


def test_load_model_accepts_bundles_and_original_directories(tmp_path):
    original = load_model(ELMO_REFERENCE)
    save_bundle(original, tmp_path / "converted")
    converted = load_model(tmp_path / "converted")
    ids = batch_to_char_ids([["El", "gato", "come", "."]])
    with torch.no_grad():
        assert torch.equal(original(ids).layers, converted(ids).layers)


def test_load_model_explains_what_a_directory_lacks(tmp_path):
    with pytest.raises(WeightFileError, match=r"holds neither config\.json"):
        load_model(tmp_path)
    with pytest.raises(WeightFileError, match="not a directory"):
        load_model(tmp_path / "nothing-here")


def test_converted_original_model_matches_loaded_original(tmp_path):
    model = load_original(ELMO_REFERENCE / "options.json", ELMO_REFERENCE / "weights.hdf5")
    shutil.copytree(ELMO_REFERENCE, tmp_path / "copy")
    assert load_model(tmp_path / "copy").config == model.config


def test_a_half_precision_model_is_saved_as_float32(tmp_path):
    model = tiny_model()
    save_bundle(model.half(), tmp_path)
    loaded = load_bundle(tmp_path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())


def test_unwritable_bundle_path_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(WeightFileError, match="cannot write the bundle"):
        save_bundle(tiny_model(), blocker)


def test_models_can_be_loaded_by_name_from_the_models_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_MODELS_DIR", str(tmp_path))
    save_bundle(tiny_model("gru"), tmp_path / "small-test")
    assert load_model("small-test").config.recurrent.cell == "gru"
    with pytest.raises(WeightFileError, match=r"available: small-test"):
        load_model("no-such-model")


def test_default_model_prefers_default_then_any_model_and_without_one_says_how_to_name_one(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("ELMO_MODELS_DIR", str(tmp_path))
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(
        WeightFileError, match=r"no model in .*--model, ELMO_MODEL.*ELMO_MODELS_DIR"
    ):
        default_model_path()
    save_bundle(tiny_model("gru"), tmp_path / "b-model")
    save_bundle(tiny_model("gru"), tmp_path / "a-model")
    with caplog.at_level("WARNING", logger="elmo.io.bundle"):
        assert default_model_path() == tmp_path / "a-model"
    assert "no model named 'default'" in caplog.text
    save_bundle(tiny_model("gru"), tmp_path / "default")
    assert default_model_path() == tmp_path / "default"


def test_a_half_precision_bundle_is_half_the_size_and_loads_as_float32(tmp_path):
    model = tiny_model()
    save_bundle(model, tmp_path / "fp32")
    save_bundle(model, tmp_path / "fp16", dtype=torch.float16)
    size = {p: (tmp_path / p / "model.safetensors").stat().st_size for p in ("fp32", "fp16")}
    assert size["fp16"] < 0.6 * size["fp32"]
    loaded = load_bundle(tmp_path / "fp16")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    char_ids = batch_to_char_ids([["El", "gato", "come", "pescado", "."]])
    with torch.inference_mode():
        full, half = model(char_ids).layers, loaded(char_ids).layers
    assert float((full - half).abs().max() / full.abs().max()) < 1e-3


def test_only_float32_or_float16_bundles_are_written(tmp_path):
    with pytest.raises(ConfigError, match="float32 or float16"):
        save_bundle(tiny_model(), tmp_path, dtype=torch.bfloat16)


@pytest.mark.parametrize("name", ["default", "reference"])
def test_load_config_reads_the_architecture_of_a_bundle_or_original_files_without_weights(name):
    path = REPO / "models" / "default" if name == "default" else ELMO_REFERENCE
    assert load_config(path) == load_model(path).config


def test_named_models_are_found_in_the_working_directorys_models_without_the_variable(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("ELMO_MODELS_DIR", raising=False)
    monkeypatch.chdir(REPO)  # a clone: its models/ holds the default model
    assert models_dir() == REPO / "models"
    assert resolve_model_path("default") == REPO / "models" / "default"
    monkeypatch.chdir(tmp_path)  # elsewhere, the error says where it looked
    with pytest.raises(WeightFileError, match=f"no model in {tmp_path / 'models'}|neither"):
        resolve_model_path("default")


def test_load_config_of_a_directory_without_a_model_names_what_is_missing(tmp_path):
    with pytest.raises(WeightFileError, match=r"holds neither config\.json"):
        load_config(tmp_path)


def test_every_bundle_file_gets_the_mode_of_a_plain_new_file(tmp_path):
    """safetensors creates its file private; a bundle is read by other users (the image's)."""
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    out = save_bundle(tiny_model("lstm", seed=0), tmp_path / "bundle", model_card="card\n")
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert set(modes) == {"config.json", "model.safetensors", "MODEL_CARD.md"}
    assert modes == dict.fromkeys(modes, 0o666 & ~mask)
