"""OpenTelemetry: spans for runs, steps, model calls and validations, exported by setting.

Attribute names (`weavergen.*`) name what a trace viewer groups by: pattern, step element
id, operator, model group, deployment, tokens, duration, outcome. Learning does not read
spans; it gets typed events (`engine.learning.events`).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)

tracer = trace.get_tracer("weavergen")
_configured = False


def setup_tracing(
    exporter: str, *, endpoint: str | None, service: str, processors: Sequence[SpanProcessor] = ()
) -> TracerProvider:
    """Install the tracer provider once per process: exporter none, console or otlp, plus
    `processors` (the learning recorder's)."""
    global _configured
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    for processor in processors:
        provider.add_span_processor(processor)
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
