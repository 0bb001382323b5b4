"""OpenTelemetry: spans for runs, steps, model calls and validations, exported by setting.

Attribute names (`weavergen.*`) name what a trace viewer groups by: pattern, step element
id, operator, model group, deployment, tokens, duration, outcome. Learning does not read
spans; it gets typed events (`engine.learning.events`).
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)

tracer = trace.get_tracer("weavergen")
_configured = False


def configure_logging() -> None:
    """INFO logs on stderr for a server or worker process, the chatty libraries at WARNING."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "LiteLLM", "litellm", "procrastinate", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def setup_tracing(exporter: str, *, endpoint: str | None, service: str) -> TracerProvider:
    """Install the tracer provider once per process: exporter none, console or otlp."""
    global _configured
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    elif exporter != "none":
        raise ValueError(f"WEAVERGEN_OTEL_EXPORTER must be none, console or otlp, not {exporter!r}")
    if not _configured:
        trace.set_tracer_provider(provider)
        _configured = True
    return provider
