"""deploy/k8s/ agrees with the service it runs: its settings, routes, drain and image user."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from service.api import paths
from service.app import create_app
from service.core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "deploy" / "k8s"
# What stopping takes beyond drain + graceful timeout: the scheduler and the model's process
# stop (nothing is left to run by then) and the process exits.
STOP_MARGIN_S = 10


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def _one(kind: str) -> dict[str, Any]:
    found = [d for d in _documents() if d.get("kind") == kind]
    assert len(found) == 1, f"{len(found)} {kind} manifests"
    return found[0]


def _pod() -> dict[str, Any]:
    spec: dict[str, Any] = _one("Deployment")["spec"]["template"]["spec"]
    return spec


def _container() -> dict[str, Any]:
    containers = _pod()["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _container_port(port: int | str) -> int:
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in _container()["ports"] if "name" in p}
    assert port in named, f"no container port named {port!r}"
    return int(named[port])


def _cpu(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _bytes(quantity: str | int) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)([KMG]i?)?", str(quantity))
    assert match, f"unexpected quantity {quantity!r}"
    return int(match.group(1)) * units.get(match.group(2) or "", 1)


@pytest.fixture
def config_data() -> dict[str, Any]:
    data: dict[str, Any] = _one("ConfigMap")["data"]
    return data


@pytest.fixture
def settings(config_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a pod runs with: the ConfigMap's values as its only ELMO_* environment."""
    for name in list(os.environ):
        if name.startswith("ELMO_"):
            monkeypatch.delenv(name)
    for name, value in config_data.items():
        monkeypatch.setenv(name, str(value))
    return Settings()


@pytest.fixture
def client(settings: Settings) -> TestClient:
    """The app without its lifespan: routes answer, no model is loaded."""
    app = create_app(settings, model_path=REPO / "models" / "default")
    return TestClient(app)


def test_every_manifest_is_a_named_kubernetes_object():
    docs = _documents()
    assert {d.get("kind") for d in docs} >= {"ConfigMap", "Deployment", "Service"}
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), doc


def test_every_configmap_key_is_a_setting_of_the_service(config_data):
    fields = set(Settings.model_fields)
    unknown = [k for k in config_data if not k.startswith("ELMO_") or k[5:].lower() not in fields]
    assert unknown == []
    # kubectl refuses a ConfigMap whose values are numbers or booleans
    assert [k for k, v in config_data.items() if not isinstance(v, str)] == []


def test_the_api_key_is_not_kept_in_the_configmap(config_data):
    assert "ELMO_API_KEY" not in config_data


def test_each_configmap_value_is_what_the_service_reads(config_data, settings):
    for name, value in config_data.items():
        read = getattr(settings, name[5:].lower())
        assert str(read).lower() == value.lower() or float(read) == float(value), name


def test_the_deployment_takes_its_environment_from_the_configmap():
    refs = [
        e["configMapRef"]["name"] for e in _container().get("envFrom", []) if "configMapRef" in e
    ]
    assert refs == [_one("ConfigMap")["metadata"]["name"]]


def test_the_container_port_is_the_port_the_service_binds(settings):
    assert settings.host == "0.0.0.0"
    assert [p["containerPort"] for p in _container()["ports"]] == [settings.port]


def test_probes_and_the_service_reach_the_port_the_server_binds(settings):
    probes = [_container()[k] for k in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert [_container_port(p["httpGet"]["port"]) for p in probes] == [settings.port] * 3
    targets = [_container_port(p["targetPort"]) for p in _one("Service")["spec"]["ports"]]
    assert targets == [settings.port]


def test_the_service_selects_the_deployments_pods():
    deployment = _one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = _one("Service")["spec"]["selector"]
    assert selector and selector.items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_readiness_probe_points_at_the_route_that_drains(client):
    path = _container()["readinessProbe"]["httpGet"]["path"]
    assert path in paths()  # the app's routes (FastAPI keeps included routers whole)
    state = client.app.state.service
    state.ready = True
    assert client.get(path).status_code == 200
    state.draining = True
    assert client.get(path).status_code == 503


def test_liveness_and_startup_probes_stay_up_while_the_model_loads_and_drains(client):
    probe_paths = {_container()[k]["httpGet"]["path"] for k in ("livenessProbe", "startupProbe")}
    state = client.app.state.service
    assert not state.ready  # no lifespan: the model is "loading"
    for path in probe_paths:
        assert path in paths()
        assert client.get(path).status_code == 200, path
        state.draining = True
        assert client.get(path).status_code == 200, path
        state.draining = False


def test_the_grace_period_outlasts_the_drain_and_the_graceful_timeout(settings):
    grace = _pod()["terminationGracePeriodSeconds"]
    assert grace >= settings.drain_s + settings.graceful_timeout_s + STOP_MARGIN_S


def test_the_drain_lasts_long_enough_for_the_readiness_probe_to_see_it(settings):
    probe = _container()["readinessProbe"]
    assert settings.drain_s >= probe["periodSeconds"] * probe["failureThreshold"]


def test_liveness_does_not_kill_a_pod_finishing_its_requests(settings):
    probe = _container()["livenessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] > settings.graceful_timeout_s


def test_the_pod_runs_as_the_images_non_root_user():
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"--uid (\d+)", dockerfile)
    assert match, "the Dockerfile names no --uid"
    uid = int(match.group(1))
    assert uid != 0
    for context in (_pod()["securityContext"], _container()["securityContext"]):
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == uid


def test_the_root_filesystem_is_read_only_and_privileges_are_dropped():
    context = _container()["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context.get("privileged", False) is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert not context["capabilities"].get("add")


def test_tmp_is_writable_beside_the_read_only_root():
    volumes = {v["name"]: v for v in _pod()["volumes"]}
    mounts = {m["mountPath"]: m for m in _container()["volumeMounts"]}
    assert "/tmp" in mounts and not mounts["/tmp"].get("readOnly", False)
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]


def test_resources_fit_one_torch_thread_and_bound_memory(settings):
    resources = _container()["resources"]
    requests, limits = resources["requests"], resources["limits"]
    assert settings.torch_threads is not None, "torch would size its threads from the node"
    assert settings.torch_threads <= _cpu(requests["cpu"]) <= _cpu(limits["cpu"])
    assert 0 < _bytes(requests["memory"]) <= _bytes(limits["memory"])


def test_the_autoscaler_scales_the_deployment_on_its_cpu_request():
    hpa, deployment = _one("HorizontalPodAutoscaler"), _one("Deployment")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"}
    for name in resources:  # utilization is measured against the request
        assert name in _container()["resources"]["requests"]
