# syntax=docker/dockerfile:1
# moorage: the service image. Not built by `make test` (this machine reaches no
# registry, so python:3.11-slim cannot be pulled here); build it where one is:
#   docker build -t moorage .
#   docker compose up -d
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install moorage and its dependencies into a self-contained venv --------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/moorage
WORKDIR /src
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN mkdir app && touch app/__init__.py \
 && /opt/moorage/bin/pip install . \
 && /opt/moorage/bin/pip uninstall -y moorage
COPY app ./app
# Installed (not editable) and byte-compiled: the service starts without writing .pyc.
RUN /opt/moorage/bin/pip install --no-deps . \
 && /opt/moorage/bin/python -m compileall -q /opt/moorage

# --- run: the venv only, an unprivileged user ------------------------------------
FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin moorage \
 && mkdir -p /var/lib/moorage && chown moorage /var/lib/moorage
COPY --from=build /opt/moorage /opt/moorage
ENV PATH=/opt/moorage/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MOORAGE_HOST=0.0.0.0 \
    MOORAGE_PORT=8000 \
    MOORAGE_DOCKER_HOST=unix:///var/run/docker.sock
USER moorage
EXPOSE 8000
# Liveness only (no engine call); /readyz says whether the engine answers.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["moorage", "serve"]
