#!/usr/bin/env bash
# The project's install steps, in one place: README command 1, .ci/run and the Dockerfile all
# run this script, so running it on a machine without Docker tests the image's steps.
#
#   scripts/install.sh [all|deps|project]        (default: all = deps, then project)
#
# deps     torch first, as the CPU build (a bare "torch" requirement would pull a multi-GB CUDA
#          build), then the dependencies of the project and of ELMO_EXTRAS, read from
#          pyproject.toml: this step needs no source code, so the image caches it in a layer
#          that only changes with pyproject.toml.
# project  the project itself, editable (models/ and the reference model stay where the code
#          finds them), without dependencies.
#
# Environment:
#   ELMO_VENV             virtual environment to create or reuse (default: .venv)
#   ELMO_EXTRAS           comma-separated extras (default: dev; the image: service)
#   ELMO_TORCH            the torch requirement (default: torch==2.13.0)
#   ELMO_TORCH_INDEX_URL  index to take torch from, e.g. https://download.pytorch.org/whl/cpu
#                         (the image's default); unset or empty: pip's configured index
set -euo pipefail
cd "$(dirname "$0")/.."

step="${1:-all}"
venv="${ELMO_VENV:-.venv}"
extras="${ELMO_EXTRAS:-dev}"
torch_requirement="${ELMO_TORCH:-torch==2.13.0}"

case "$step" in
  all | deps | project) ;;
  *) echo "usage: $0 [all|deps|project]" >&2; exit 2 ;;
esac

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
python="$venv/bin/python"

install_deps() {
  if [ -n "${ELMO_TORCH_INDEX_URL:-}" ]; then
    "$python" -m pip install "$torch_requirement" --index-url "$ELMO_TORCH_INDEX_URL"
  else
    "$python" -m pip install "$torch_requirement"
  fi
  local requirements
  requirements="$(mktemp)"
  # The requirements of the project and of the extras, self-references (name[extra]) resolved.
  "$python" - "$extras" > "$requirements" <<'PY'
import re
import sys
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
optional = project.get("optional-dependencies", {})
self_reference = re.compile(re.escape(project["name"]) + r"\[([^\]]+)\]")
requirements, seen = list(project["dependencies"]), set()


def add(extra: str) -> None:
    if extra in seen:
        return
    if extra not in optional:
        sys.exit(f"install.sh: no extra {extra!r} in pyproject.toml")
    seen.add(extra)
    for requirement in optional[extra]:
        match = self_reference.fullmatch(requirement.replace(" ", ""))
        if match:
            for name in match.group(1).split(","):
                add(name)
        else:
            requirements.append(requirement)


for extra in filter(None, sys.argv[1].split(",")):
    add(extra.strip())
print("\n".join(requirements))
PY
  "$python" -m pip install -r "$requirements"
  rm -f "$requirements"
}

install_project() {
  "$python" -m pip install --no-deps -e .
}

if [ "$step" = all ] || [ "$step" = deps ]; then install_deps; fi
if [ "$step" = all ] || [ "$step" = project ]; then install_project; fi
