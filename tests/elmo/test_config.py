import pytest

from elmo.config import CharCNNConfig, ModelConfig, RecurrentConfig, from_dict, to_dict
from elmo.errors import ConfigError


def test_defaults_are_the_original_elmo_architecture():
    config = ModelConfig()
    assert config.char_cnn.n_filters == 2048 and config.char_cnn.n_highway == 2
    assert (config.recurrent.hidden_size, config.recurrent.projection_size) == (4096, 512)
    assert config.output_dim == 1024 and config.num_output_layers == 3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RecurrentConfig(cell="transformer"), "recurrent.cell must be one of"),
        (lambda: RecurrentConfig(cell="gru", cell_clip=3.0, proj_clip=None), "applies only"),
        (lambda: RecurrentConfig(hidden_size=8, projection_size=16), "<= hidden_size"),
        (lambda: RecurrentConfig(num_layers=0), "num_layers must be >= 1"),
        (lambda: CharCNNConfig(filters=((0, 4),)), r"char_cnn.filters: \(0, 4\)"),
        (lambda: CharCNNConfig(activation="gelu"), "relu or tanh"),
        (lambda: ModelConfig(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (lambda: ModelConfig(vocab_size=1), "vocab_size"),
    ],
)
def test_invalid_values_raise_config_error(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_from_dict_checks_types_and_names_the_key():
    data = to_dict(ModelConfig())
    data["recurrent"]["num_layers"] = "two"
    with pytest.raises(ConfigError, match=r"config.recurrent.num_layers: expected int, got 'two'"):
        from_dict(ModelConfig, data)
    data["recurrent"]["num_layers"] = True
    with pytest.raises(ConfigError, match="expected int, got True"):
        from_dict(ModelConfig, data)


def test_from_dict_accepts_integer_clips_and_null():
    data = to_dict(ModelConfig())
    data["recurrent"]["cell_clip"] = 3
    data["recurrent"]["proj_clip"] = None
    config = from_dict(ModelConfig, data)
    assert config.recurrent.cell_clip == 3.0 and config.recurrent.proj_clip is None
