# The WeaverGen app and worker image (docker-compose.yml). vLLM runs in its own image.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir uv && uv pip install --system --no-cache -r requirements.lock
COPY . .
RUN uv pip install --system --no-deps -e .
RUN useradd --create-home weavergen && chown -R weavergen /app
USER weavergen
ENV WEAVERGEN_HOST=0.0.0.0
EXPOSE 8080
CMD ["weavergen", "serve"]
