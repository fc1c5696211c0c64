# The step image: every Task that `progressive compile` generates runs `progressive step <command>` in it.
#
# Build from the repository root (see docs/step.md, "The step image"):
#   docker build -t ghcr.io/tekton-progressive/progressive:0.1.0 .
# and reference it by digest in your rollouts (Rollout(image="...@sha256:...")).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY progressive ./progressive
# a wheel of the package alone: no test, lint or benchmark extras
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp
COPY --from=build /wheels /wheels
# pip compiles the .pyc files at install time, so the non-root step starts without writing any
RUN pip install /wheels/*.whl && rm -rf /wheels
# a numeric user, so Tekton's restricted securityContext (runAsNonRoot) can verify it without /etc/passwd
USER 65532:65532
ENTRYPOINT ["progressive"]
CMD ["step", "--help"]
