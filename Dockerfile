# The WeaverGen app and worker image (docker-compose.yml). vLLM runs in its own image.
# The browser pages' scripts are bundled in a Node stage; only web/dist reaches the image.
# Base images are pinned by version; pin them by digest too where you build for production.
FROM node:20.19-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/build.mjs ./
COPY web/src ./src
RUN node build.mjs

FROM python:3.11.13-slim-bookworm
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir uv==0.9.* \
 && uv pip install --system --no-cache --compile-bytecode -r requirements.lock
# The sandbox, installed by the same script as `make install` (validation/toolchain/install.sh):
# bubblewrap, Debian's python3 with pytest/ruff/mypy/bandit, Node with eslint, Go with a warm
# build cache, all world-readable under /opt/weavergen/toolchain.
COPY validation/toolchain ./validation/toolchain
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      bubblewrap python3 python3-venv nodejs npm golang-go ca-certificates curl \
 && UV=uv validation/toolchain/install.sh /opt/weavergen/toolchain \
 && rm -rf /var/lib/apt/lists/*
COPY . .
COPY --from=web /web/dist ./web/dist
RUN uv pip install --system --no-deps -e . \
 && python -m compileall -q engine api adapters validation standin bench
# The sandbox mounts a size-capped tmpfs per validation and caps memory with cgroups, which
# needs root in the container (with CAP_SYS_ADMIN, see docker-compose.yml); the generated
# code itself runs as unprivileged uids (200000+) inside bubblewrap.
ENV WEAVERGEN_HOST=0.0.0.0 WEAVERGEN_TOOLCHAIN_DIR=/opt/weavergen/toolchain
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
CMD ["weavergen", "serve"]
