# syntax=docker/dockerfile:1
# One image for the gateway and every service; the container's command picks which one runs:
#   uvicorn --factory services.<name>.app:create_app --host 0.0.0.0 --port 8080
#   uvicorn --factory gateway.app:create_app --host 0.0.0.0 --port 8080   (the default CMD)
#   python -m kit.db.migrate <name> upgrade                                (migrations)
#
# Pin the base by digest in CI (--build-arg PYTHON_IMAGE=python:3.11-slim-trixie@sha256:...).
# Both stages must use the same image: the venv's python is a symlink to /usr/local/bin.
ARG PYTHON_IMAGE=python:3.11-slim-trixie
# checkov:skip=CKV_DOCKER_7: the tag is in PYTHON_IMAGE above, which checkov cannot resolve
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK: Kubernetes ignores it and probes /healthz and
#   /readyz itself; one image runs several commands, so no single check would fit them all

FROM ${PYTHON_IMAGE} AS builder
# uv from PyPI, the same pinned version as the Makefile (no second image registry needed).
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, from the lock alone, so that a source change reuses this layer.
# --no-build: every dependency must come as a wheel, so the builder needs no compiler.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --no-build
# The project itself is not installed: it runs from /app through PYTHONPATH, which keeps
# kit.db.migrate's repository-relative paths (services/<name>/migrations) valid.
COPY kit/ kit/
COPY contracts/ contracts/
COPY services/ services/
COPY gateway/ gateway/
# The root filesystem is read-only at run time: compile now. unchecked-hash: the image is
# immutable, so Python need not stat or hash the sources on every start.
RUN python -m compileall -q --invalidation-mode unchecked-hash kit contracts services gateway

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="paddock" \
      org.opencontainers.image.description="Paddock gateway and services (one image, command picks the process)" \
      org.opencontainers.image.licenses="Apache-2.0"
# Fixed ids, matching runAsUser/runAsGroup in deploy/k8s; no home, no shell login.
RUN groupadd --system --gid 10001 paddock \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin paddock
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PADDOCK_ENV=production
# PADDOCK_ENV=production: placeholder secrets are refused unless someone asks for
# development explicitly (docker run -e PADDOCK_ENV=development ...).
WORKDIR /app
# Only the virtual environment and the source; files stay root-owned, so the process
# cannot modify its own code even where the root filesystem is writable.
COPY --from=builder /app/.venv /app/.venv
COPY --from=builder /app/kit /app/kit
COPY --from=builder /app/contracts /app/contracts
COPY --from=builder /app/services /app/services
COPY --from=builder /app/gateway /app/gateway
USER 10001:10001
EXPOSE 8080
CMD ["uvicorn", "--factory", "gateway.app:create_app", "--host", "0.0.0.0", "--port", "8080"]
