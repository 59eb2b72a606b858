#!/usr/bin/env bash
# Build the service image and check it for real: it becomes ready, answers /v1/embed with the
# same vectors as the library, runs as a non-root user, has a working HEALTHCHECK, and stops
# cleanly on SIGTERM.  Works with docker or podman.
#
#   scripts/container.sh [check|build]     (default: check = build, run, verify, remove)
#
# Environment:
#   ELMO_CONTAINER_ENGINE  docker or podman (default: docker if installed, else podman)
#   ELMO_IMAGE             the image's tag (default: elmo-service:check)
#   ELMO_BASE_IMAGE        the base image (the Dockerfile's BASE_IMAGE; default python:3.11-slim).
#                          Any Debian/Ubuntu image with python3 (>= 3.11) and python3-venv will do,
#                          e.g. one made with mmdebstrap where no image registry is reachable.
#   ELMO_TORCH_INDEX_URL   passed to the build as TORCH_INDEX_URL (see scripts/install.sh)
#   ELMO_WHEELS            a directory of wheels that pip inside the build may take packages from
#                          (a local torch wheel where PyTorch's index is unreachable); podman only,
#                          mounted read-only for the build's RUN steps
#   ELMO_CA_BUNDLE         a CA bundle for pip inside the build (a proxy that re-signs TLS, whose
#                          CA the base image lacks); podman only, mounted read-only like ELMO_WHEELS
#   ELMO_ENGINE_FLAGS      flags before the engine's subcommand (podman: --cgroup-manager=cgroupfs)
#   ELMO_BUILD_FLAGS       extra flags for `build` (podman in a container: --isolation=chroot)
#   ELMO_RUN_FLAGS         extra flags for `run` (podman in a container: --ulimit nofile=1024:1024)
#   ELMO_CHECK_PORT        host port for the check (default: 18000)
#   ELMO_PYTHON            the Python with this project installed, to compute the reference
#                          vectors (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

step="${1:-check}"
case "$step" in
  check | build) ;;
  *) echo "usage: $0 [check|build]" >&2; exit 2 ;;
esac

engine="${ELMO_CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
  if command -v docker > /dev/null; then engine=docker
  elif command -v podman > /dev/null; then engine=podman
  else echo "container.sh: neither docker nor podman is installed" >&2; exit 1
  fi
fi
command -v "$engine" > /dev/null || { echo "container.sh: $engine is not installed" >&2; exit 1; }
image="${ELMO_IMAGE:-elmo-service:check}"
port="${ELMO_CHECK_PORT:-18000}"
python="${ELMO_PYTHON:-.venv/bin/python}"
read -r -a engine_flags <<< "${ELMO_ENGINE_FLAGS:-}"
read -r -a build_flags <<< "${ELMO_BUILD_FLAGS:-}"
read -r -a run_flags <<< "${ELMO_RUN_FLAGS:-}"
run_engine() { "$engine" "${engine_flags[@]}" "$@"; }
say() { echo "container.sh: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

build_args=()
[ -n "${ELMO_BASE_IMAGE:-}" ] && build_args+=(--build-arg "BASE_IMAGE=$ELMO_BASE_IMAGE")
if [ -n "${ELMO_TORCH_INDEX_URL+set}" ]; then
  build_args+=(--build-arg "TORCH_INDEX_URL=$ELMO_TORCH_INDEX_URL")
fi
if [ "$engine" = podman ]; then
  # OCI images have no HEALTHCHECK: podman keeps it only in Docker's format.
  build_args+=(--format docker)
fi
if [ -n "${ELMO_WHEELS:-}" ]; then
  [ "$engine" = podman ] || { say "ELMO_WHEELS needs podman (build-time mounts)"; exit 1; }
  build_args+=(--volume "$(realpath "$ELMO_WHEELS"):/wheels:ro" --build-arg PIP_WHEELS=/wheels)
fi
if [ -n "${ELMO_CA_BUNDLE:-}" ]; then
  [ "$engine" = podman ] || { say "ELMO_CA_BUNDLE needs podman (build-time mounts)"; exit 1; }
  bundle="$(realpath "$ELMO_CA_BUNDLE")"
  build_args+=(--volume "$bundle:/etc/elmo-build-ca.crt:ro")
  build_args+=(--build-arg PIP_CA_BUNDLE=/etc/elmo-build-ca.crt)
fi

started="$(now)"
say "building $image with $engine"
run_engine build "${build_args[@]}" "${build_flags[@]}" -t "$image" .
build_s="$(since "$started")"
size="$(run_engine image inspect --format '{{.Size}}' "$image")"
say "built $image in ${build_s} s: $(awk -v b="$size" 'BEGIN { printf "%.2f GB", b / 1e9 }')"
[ "$step" = build ] && exit 0

fail() { say "FAILED: $*"; exit 1; }
user="$(run_engine image inspect --format '{{.Config.User}}' "$image")"
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "the image runs as '$user'"
health="$(run_engine image inspect --format '{{json .Config.Healthcheck}}' "$image")"
case "$health" in *"/health"*) ;; *) fail "the image has no HEALTHCHECK ($health)" ;; esac

name="elmo-check-$$"
cleanup() { run_engine rm -f "$name" > /dev/null 2>&1 || true; }
trap cleanup EXIT
started="$(now)"
run_engine run -d --name "$name" -p "127.0.0.1:$port:8000" "${run_flags[@]}" "$image" > /dev/null
url="http://127.0.0.1:$port"
ready=""
for _ in $(seq 1 240); do
  if "$python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "$url/ready" 2> /dev/null; then ready=1; break; fi
  [ "$(run_engine inspect --format '{{.State.Running}}' "$name")" = true ] \
    || { run_engine logs "$name" >&2; fail "the container exited"; }
  sleep 0.5
done
[ -n "$ready" ] || { run_engine logs "$name" >&2; fail "not ready after 120 s"; }
ready_s="$(since "$started")"
say "ready in ${ready_s} s"

uid="$(run_engine exec "$name" id -u)"
[ "$uid" != 0 ] || fail "the server runs as root"

if [ "$engine" = podman ]; then
  run_engine healthcheck run "$name" || fail "the HEALTHCHECK command failed"
else
  status=""
  for _ in $(seq 1 90); do  # docker runs the first check one interval after the start
    status="$(run_engine inspect --format '{{.State.Health.Status}}' "$name")"
    [ "$status" = healthy ] && break
    sleep 1
  done
  [ "$status" = healthy ] || fail "the container is '$status', not healthy"
fi
say "healthcheck passes; the server runs as uid $uid"

# The service's vectors, bit for bit, against the library's on the same text.
"$python" - "$url" <<'PY' || fail "the image's vectors differ from the library's"
import base64
import json
import sys
import urllib.request

import numpy as np

from elmo import Embedder

texts = ["el gato come pescado", "levanté el auto con el gato.", "The bank raised its rates."]
body = json.dumps({"inputs": texts, "encoding_format": "base64"}).encode()
request = urllib.request.Request(
    sys.argv[1] + "/v1/embed", body, {"Content-Type": "application/json"}
)
with urllib.request.urlopen(request, timeout=60) as answer:
    items = json.load(answer)["data"]
expected = Embedder.from_pretrained("default").embed(texts)
for item, embedding in zip(items, expected, strict=True):
    array, want = item["embeddings"], embedding.vectors  # [L, n, 2D]
    got = np.frombuffer(base64.b64decode(array["data"]), "<f4").reshape(array["shape"])
    if item["tokens"] != embedding.tokens or not np.array_equal(got, want):
        sys.exit(f"{texts[item['index']]!r}: the image's vectors differ from the library's")
print(f"container.sh: /v1/embed equals the library bit for bit on {len(texts)} sentences")
PY

started="$(now)"
run_engine stop --time 60 "$name" > /dev/null
stop_s="$(since "$started")"
code="$(run_engine inspect --format '{{.State.ExitCode}}' "$name")"
[ "$code" = 0 ] || { run_engine logs "$name" >&2; fail "exit code $code after SIGTERM"; }
say "stopped on SIGTERM in ${stop_s} s, exit code 0"
printf '| engine | build s | image GB | ready s | stop s |\n| --- | ---: | ---: | ---: | ---: |\n'
printf '| %s | %s | %s | %s | %s |\n' "$engine" "$build_s" \
  "$(awk -v b="$size" 'BEGIN { printf "%.2f", b / 1e9 }')" "$ready_s" "$stop_s"
