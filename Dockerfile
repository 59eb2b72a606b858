# The REST service on CPU: `docker build -t elmo-service .` then `docker run -p 8000:8000 elmo-service`
# (or `docker compose up`).  The install steps are scripts/install.sh's, the same that README
# command 1 and CI run.  For a CUDA image build with `--build-arg TORCH_INDEX_URL=` (empty: PyPI's
# default torch, which is the CUDA build on Linux) and run with ELMO_DEVICE=cuda (see
# docker-compose.yml's gpu profile).
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
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
RUN ELMO_TORCH_INDEX_URL="$TORCH_INDEX_URL" scripts/install.sh deps

# Then the code and the default model (models/).
COPY README.md ./
COPY elmo/ elmo/
COPY service/ service/
COPY models/ models/
RUN scripts/install.sh project \
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
