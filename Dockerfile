# The REST service on CPU: `docker build -t elmo-service .` then `docker run -p 8000:8000 elmo-service`
# (or `docker compose up`); `scripts/container.sh` builds it and checks it for real.  The install
# steps are scripts/install.sh's, the same that README command 1 and CI run.
#
# Build arguments:
#   BASE_IMAGE       any Debian/Ubuntu image with python3 (>= 3.11) and python3-venv, for builds
#                    where the default cannot be pulled (a local mirror, or one made with mmdebstrap)
#   TORCH_INDEX_URL  "auto" (default): install.sh's choice, the CPU build.  Empty: PyPI's default
#                    torch, the CUDA build on Linux; run that image with ELMO_DEVICE=cuda (see
#                    docker-compose.yml's gpu profile).  Anything else: the index to take torch from.
#   PIP_WHEELS       a directory inside the build (e.g. mounted by podman) of wheels pip may use
#   PIP_CA_BUNDLE    a CA bundle inside the build for pip (a proxy that re-signs TLS)
#   TRIM_TORCH       1 (default): drop what inference never loads from torch's wheel, its C++
#                    test programs, headers and protoc (about a sixth of the image); 0 keeps them
#                    (headers are needed only to compile C++ extensions inside the image)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_INDEX_URL=auto
ARG PIP_WHEELS=
ARG PIP_CA_BUNDLE=
ARG TRIM_TORCH=1
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ELMO_VENV=/opt/venv \
    ELMO_EXTRAS=service \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change,
# not on every code change.
COPY pyproject.toml ./
COPY scripts/install.sh scripts/install.sh
RUN if [ "$TORCH_INDEX_URL" != auto ]; then export ELMO_TORCH_INDEX_URL="$TORCH_INDEX_URL"; fi \
    && if [ -n "$PIP_WHEELS" ]; then export PIP_FIND_LINKS="$PIP_WHEELS"; fi \
    && if [ -n "$PIP_CA_BUNDLE" ]; then export PIP_CERT="$PIP_CA_BUNDLE"; fi \
    && scripts/install.sh deps \
    && if [ "$TRIM_TORCH" = 1 ]; then \
         torch="$("$ELMO_VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')" \
         && rm -rf "$torch/test" "$torch/include" \
         && find "$torch/bin" -mindepth 1 -maxdepth 1 ! -name torch_shm_manager -exec rm -rf {} +; \
       fi

# Then the code and the default model (models/).
COPY README.md ./
COPY elmo/ elmo/
COPY service/ service/
COPY models/ models/
RUN if [ -n "$PIP_WHEELS" ]; then export PIP_FIND_LINKS="$PIP_WHEELS"; fi \
    && if [ -n "$PIP_CA_BUNDLE" ]; then export PIP_CERT="$PIP_CA_BUNDLE"; fi \
    && scripts/install.sh project \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin elmo

USER elmo
ENV ELMO_HOST=0.0.0.0 \
    ELMO_PORT=8000 \
    ELMO_MODELS_DIR=/app/models
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ELMO_PORT', '8000') + '/health', timeout=4)"
# SIGTERM: /ready answers 503 for ELMO_DRAIN_S, in-flight requests finish, exit 0.
STOPSIGNAL SIGTERM
CMD ["elmo", "serve"]
