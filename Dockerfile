# syntax=docker/dockerfile:1
#
# Two stages: the builder makes a wheel of the bot and installs it with its runtime
# dependencies into a virtualenv; the final image gets only that virtualenv, no compiler,
# no pip cache, no sources. Runs as uid 10001 (non-root) and works with a read-only root
# filesystem (the only writable place it needs is /tmp).
#
#   docker build -t argo-chatops:dev .
#   docker run --rm argo-chatops:dev --version

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/chatops \
 && /opt/chatops/bin/pip install --upgrade pip wheel
# Dependencies change less often than the code: copy the metadata first for layer caching.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/chatops/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && wheel=$(ls /tmp/wheels/*.whl) \
 && /opt/chatops/bin/pip install "${wheel}[postgres,mysql]" \
 && /opt/chatops/bin/python -m compileall -q /opt/chatops/lib \
 && /opt/chatops/bin/chatops --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="argo-chatops" \
      org.opencontainers.image.description="Slack ChatOps bot for Argo Workflows and Argo CD on EKS" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 chatops \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin chatops
COPY --from=builder /opt/chatops /opt/chatops
ENV PATH=/opt/chatops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CHATOPS_CONFIG=/etc/chatops/config.yaml
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["chatops"]
CMD ["run", "--config", "/etc/chatops/config.yaml"]
