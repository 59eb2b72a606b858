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
#   ELMO_TORCH_INDEX_URL  index to take torch from.  Unset: PyTorch's CPU index
#                         (https://download.pytorch.org/whl/cpu) when it answers, otherwise
#                         pip's configured index if that resolves torch to a CPU build; if it
#                         would resolve to a CUDA build (PyPI's Linux default, about 2.7 GB),
#                         the script stops and says how to choose.  Empty (set to ""): pip's
#                         configured index as it is (a GPU machine's CUDA build).
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

cpu_index="https://download.pytorch.org/whl/cpu"

# Whether pip's configured sources resolve the torch requirement to a CUDA build: PyPI's Linux
# wheels depend on nvidia-* packages, the CPU builds on none.
resolves_to_cuda() {
  local report status=0
  report="$(mktemp)"
  "$python" -m pip install --dry-run --quiet --ignore-installed --report "$report" \
    "$torch_requirement" >&2
  "$python" - "$report" <<'PY' || status=$?
import json
import sys

names = [item["metadata"]["name"].lower() for item in json.load(open(sys.argv[1]))["install"]]
sys.exit(0 if any(name.startswith("nvidia-") for name in names) else 1)
PY
  rm -f "$report"
  return "$status"
}

cpu_index_answers() {
  "$python" - "$cpu_index" 2>/dev/null <<'PY'
import sys
import urllib.request

urllib.request.urlopen(sys.argv[1] + "/torch/", timeout=15)
PY
}

install_torch() {
  if [ -n "${ELMO_TORCH_INDEX_URL+set}" ]; then  # the caller chose (empty: pip's own index)
    if [ -n "$ELMO_TORCH_INDEX_URL" ]; then
      "$python" -m pip install "$torch_requirement" --index-url "$ELMO_TORCH_INDEX_URL"
    else
      "$python" -m pip install "$torch_requirement"
    fi
  elif cpu_index_answers; then
    "$python" -m pip install "$torch_requirement" --index-url "$cpu_index"
  elif resolves_to_cuda; then
    cat >&2 <<EOF
install.sh: PyTorch's CPU index ($cpu_index) cannot be reached, and pip's configured
index would install $torch_requirement as a CUDA build (about 2.7 GB). Choose one:
  ELMO_TORCH_INDEX_URL=<an index or mirror with the CPU build> scripts/install.sh
  ELMO_TORCH_INDEX_URL= scripts/install.sh    # pip's configured index as it is (CUDA build)
EOF
    exit 1
  else
    "$python" -m pip install "$torch_requirement"
  fi
  "$python" - "${ELMO_TORCH_INDEX_URL-auto}" <<'PY'
import sys

import torch

cuda = torch.version.cuda
print(f"install.sh: torch {torch.__version__}", "(CPU build)" if cuda is None else f"(CUDA {cuda})")
if sys.argv[1] == "auto" and cuda is not None:  # no GPU index was asked for
    sys.exit("install.sh: a CUDA build of torch was installed where the CPU build was meant")
PY
}

install_deps() {
  install_torch
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
