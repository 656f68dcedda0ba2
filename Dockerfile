# moorage: the service image. Build it with `make image` (scripts/image.sh), which
# picks the base and the install source; README "The image and compose" has the
# air-gapped path.
#
# One Dockerfile, two ways in:
# - online: PYTHON_IMAGE=python:3.11-slim (the default) and `pip install` of the source
#   from a package index;
# - no registry, no index: PYTHON_IMAGE names the Debian base scripts/base-image.sh
#   made (debootstrap + docker import) and wheelhouse/ holds the wheels
#   scripts/wheelhouse.sh built on the host: when it holds a moorage wheel, pip
#   installs from there alone (--no-index).
# No `# syntax=` line: BuildKit would fetch a frontend image for it.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: moorage and its dependencies in a self-contained venv ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# Without a wheelhouse: a package index other than PyPI (pip reads these from the
# environment; unset unless given with --build-arg).
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
# python3, not python: Debian's base has no `python` command.
RUN python3 -m venv /opt/moorage
COPY wheelhouse/ /wheels/
COPY pyproject.toml README.md MANIFEST.in /src/
COPY app/ /src/app/
# pip and setuptools only ever run here: the service does not need them (~15 MB).
RUN if ls /wheels/moorage-*.whl >/dev/null 2>&1; then \
      /opt/moorage/bin/pip install --no-index --find-links=/wheels moorage; \
    else \
      /opt/moorage/bin/pip install /src; \
    fi \
 && /opt/moorage/bin/python -m pip uninstall -y -q setuptools pip \
 && rm -f /opt/moorage/bin/activate* /opt/moorage/bin/Activate.ps1

# --- run: the venv and an unprivileged user --------------------------------------------
FROM ${PYTHON_IMAGE}
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/moorage --no-create-home \
      --shell /usr/sbin/nologin moorage \
 && install -d -o moorage -g moorage -m 0750 /var/lib/moorage /etc/moorage
COPY --from=build /opt/moorage /opt/moorage
# The root filesystem may be read-only (`--read-only`, compose `read_only: true`):
# nothing is written but the audit log under /var/lib/moorage (mount a volume or a
# tmpfs there) and what Python puts in /tmp (a tmpfs). Byte code was compiled at
# install time; PYTHONDONTWRITEBYTECODE keeps Python from trying again.
ENV PATH=/opt/moorage/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MOORAGE_HOST=0.0.0.0 \
    MOORAGE_PORT=8000 \
    MOORAGE_DOCKER_HOST=unix:///var/run/docker.sock \
    MOORAGE_AUDIT_DB=/var/lib/moorage/audit.sqlite3
WORKDIR /var/lib/moorage
# Numeric, so that runtimes checking "runs as non-root" need not read /etc/passwd.
USER 10001:10001
EXPOSE 8000
# uvicorn handles SIGTERM: it stops accepting, lets requests finish for
# MOORAGE_SHUTDOWN_GRACE seconds (default 10) and ends every SSE stream with
# `event: end` {"reason": "shutdown"}. Give `docker stop -t` more than that.
STOPSIGNAL SIGTERM
# Liveness only (no engine call): /readyz says whether the engine answers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MOORAGE_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["moorage", "serve"]
