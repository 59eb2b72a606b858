"""The image, CI and README command 1 install through one script, and the container check
(scripts/container.sh) agrees with the Dockerfile.  Building the image needs docker or podman
and minutes, so the suite checks the steps; `scripts/container.sh` runs them for real."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_ci_and_dockerfile_all_install_with_the_script():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command_1 = re.search(r"# 1\..*\n(.*)\n", readme).group(1)
    assert command_1.startswith("scripts/install.sh") and ".venv/bin/elmo serve" in command_1
    assert "scripts/install.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    deps = dockerfile.index("scripts/install.sh deps")
    assert deps < dockerfile.index("COPY elmo/") < dockerfile.index("scripts/install.sh project")
    for line in ("EXPOSE 8000", "HEALTHCHECK", "USER elmo", 'CMD ["elmo", "serve"]'):
        assert line in dockerfile
    assert "tests/" not in dockerfile  # the image serves models/, it carries no test fixture


def test_the_install_script_reads_dependencies_and_extras_from_pyproject():
    script = (REPO / "scripts" / "install.sh").read_text(encoding="utf-8")
    heredocs = [part.split("\nPY\n", 1)[0] for part in script.split("<<'PY'\n")[1:]]
    (resolver,) = [code for code in heredocs if "pyproject.toml" in code]
    out = subprocess.run(
        [sys.executable, "-", "service"], input=resolver, cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    requirements = out.stdout.splitlines()
    assert "torch>=2.4,<3" in requirements and any(r.startswith("fastapi") for r in requirements)
    dev = subprocess.run(
        [sys.executable, "-", "dev"], input=resolver, cwd=REPO, capture_output=True, text=True
    ).stdout.splitlines()
    assert set(requirements) < set(dev) and any(r.startswith("openai") for r in dev)
    assert not any("elmo-service" in r for r in dev)  # the self-reference is resolved


CONTAINER_SH = REPO / "scripts" / "container.sh"


def test_the_container_check_passes_only_build_arguments_the_dockerfile_declares():
    script = CONTAINER_SH.read_text(encoding="utf-8")
    passed = set(re.findall(r"--build-arg \"?([A-Z_]+)=", script))
    declared = set(re.findall(r"^ARG ([A-Z_]+)", (REPO / "Dockerfile").read_text(), re.M))
    assert {"BASE_IMAGE", "TORCH_INDEX_URL", "PIP_WHEELS", "PIP_CA_BUNDLE"} <= passed
    assert passed <= declared
    assert subprocess.run(["bash", "-n", str(CONTAINER_SH)]).returncode == 0  # it parses


def test_the_container_check_refuses_an_unknown_step_and_a_missing_engine():
    usage = subprocess.run(["bash", str(CONTAINER_SH), "deploy"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr
    missing = subprocess.run(
        ["bash", str(CONTAINER_SH)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "ELMO_CONTAINER_ENGINE": "no-such-engine"},
    )
    assert missing.returncode == 1 and "no-such-engine is not installed" in missing.stderr
