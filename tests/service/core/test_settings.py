import sys

import pytest

from elmo.cli import main
from elmo.errors import ConfigError
from elmo.io.bundle import save_bundle
from factories import ELMO_REFERENCE, tiny_model
from service.core.settings import Settings
from service.server import load_settings, model_path


def test_environment_variables_set_the_limits_and_flags_override_them(monkeypatch):
    monkeypatch.setenv("ELMO_MAX_INPUTS", "7")
    monkeypatch.setenv("ELMO_PORT", "9000")
    monkeypatch.setenv("ELMO_API_KEY", "s3cret-key")
    monkeypatch.setenv("ELMO_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = load_settings(port=9100, host=None)
    assert (settings.max_inputs, settings.port, settings.host) == (7, 9100, "127.0.0.1")
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret-key"
    assert "s3cret" not in repr(settings)
    assert settings.cors_origin_list == ["https://a.example", "https://b.example"]
    assert settings.limits()["max_inputs"] == 7


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ELMO_PORT": "eighty"}, "port: Input should be a valid integer"),
        ({"ELMO_TIMEOUT_S": "0"}, "timeout_s: Input should be greater than 0"),
        ({"ELMO_MAX_INPUTS": "500", "ELMO_QUEUE_SIZE": "100"}, "must not exceed queue_size"),
        ({"ELMO_MAX_SENTENCE_TOKENS": "20000"}, "must not exceed max_batch_tokens"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_setting(monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_without_a_named_model_the_models_directorys_default_is_served(monkeypatch, tmp_path):
    monkeypatch.setenv("ELMO_MODELS_DIR", str(tmp_path))
    save_bundle(tiny_model("gru"), tmp_path / "default")
    assert model_path(Settings()) == tmp_path / "default"
    assert model_path(Settings(model=str(ELMO_REFERENCE))) == ELMO_REFERENCE


def test_serve_without_any_model_is_a_cli_error_naming_the_ways_to_give_one(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("ELMO_MODELS_DIR", str(tmp_path))
    assert main(["serve"]) == 2
    assert "elmo: error: no model in" in capsys.readouterr().err


def test_serve_reports_a_missing_model_as_a_cli_error(capsys):
    assert main(["serve", "--model", "/no/such/model"]) == 2
    assert "elmo: error: /no/such/model: not a model directory" in capsys.readouterr().err


def test_serve_without_the_service_extra_says_what_to_install(monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "service" or m.startswith("service.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if it were not installed
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "elmo serve needs the service extra" in err and "'fastapi'" in err


def test_the_library_does_not_import_the_service():
    import subprocess

    code = "import elmo, elmo.cli, sys; print(any(m.startswith('service') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_empty_api_key_means_no_key(monkeypatch):
    monkeypatch.setenv("ELMO_API_KEY", "")
    assert load_settings().api_key is None
