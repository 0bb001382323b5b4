# The WeaverGen app and worker image (docker-compose.yml). vLLM runs in its own image.
# The browser pages' scripts are bundled in a Node stage; only web/dist reaches the image.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/build.mjs ./
COPY web/src ./src
RUN node build.mjs

FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir uv && uv pip install --system --no-cache --compile-bytecode -r requirements.lock
COPY . .
COPY --from=web /web/dist ./web/dist
RUN uv pip install --system --no-deps -e . \
 && python -m compileall -q engine api adapters validation standin bench
RUN useradd --create-home weavergen && chown -R weavergen /app
USER weavergen
ENV WEAVERGEN_HOST=0.0.0.0
EXPOSE 8080
CMD ["weavergen", "serve"]
