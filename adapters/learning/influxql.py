"""The InfluxQL that the outcome store (influx.py) sends, and how it reads the answers.

Values are always bound parameters (`$name`, sent as the `params` JSON of the v1 API), never
spliced into InfluxQL; the two placeholders InfluxQL cannot bind (`{bucket}`, `{limit}`) are
filled with validated ints. Booleans stay booleans: counts use `count(success)` with
`WHERE success = true` and `... = false` (two statements in one request), not a duplicated
integer field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.learning.contract import as_utc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PATTERN_STATS = (
    'SELECT count("success") FROM "run" WHERE "task_type" = $task_type'
    ' AND "language" = $language AND "success" = true GROUP BY "pattern";'
    ' SELECT count("success") FROM "run" WHERE "task_type" = $task_type'
    ' AND "language" = $language AND "success" = false GROUP BY "pattern"'
)
# `{bucket}` is the bucket size in seconds, a validated int (check_bucket_s): GROUP BY time()
# takes no bound parameter. The upper bound is InfluxDB's largest time: with GROUP BY time()
# the default one is now(), which would leave out runs recorded with a later `at`.
RUN_SERIES = (
    'SELECT count("success") FROM "run" WHERE time >= $since AND time <= $until'
    ' GROUP BY time({bucket}s), "pattern" fill(none);'
    ' SELECT count("success") FROM "run" WHERE time >= $since AND time <= $until'
    ' AND "success" = true GROUP BY time({bucket}s), "pattern" fill(none)'
)
MAX_TIME_NS = 2**63 - 2  # InfluxDB's largest timestamp (models.MaxNanoTime)
# an empty model group is an absent tag in line protocol: `!= ''` keeps the series that have it
MODEL_LATENCY = (
    'SELECT count("duration_ms"), mean("duration_ms"), percentile("duration_ms", 95)'
    ' FROM "step" WHERE time >= $since AND "model_group" != \'\' GROUP BY "model_group";'
    ' SELECT count("success") FROM "step" WHERE time >= $since'
    ' AND "model_group" != \'\' AND "success" = false GROUP BY "model_group"'
)
ITERATION_STATS = (
    'SELECT count("helped") FROM "iteration" WHERE "signature" = $signature'
    ' AND "language" = $language AND "helped" = true;'
    ' SELECT count("helped") FROM "iteration" WHERE "signature" = $signature'
    ' AND "language" = $language'
)

CANDIDATE_STATS = (
    'SELECT count("passed") FROM "candidate" WHERE "model_group" = $model_group'
    ' AND "task_type" = $task_type AND "language" = $language AND "passed" = true;'
    ' SELECT count("passed") FROM "candidate" WHERE "model_group" = $model_group'
    ' AND "task_type" = $task_type AND "language" = $language'
)
# InfluxQL has no IS NOT NULL: a comparison is false for a point without the field, and
# `predicted` is always finite (CandidateOutcome), so this keeps exactly the points that have
# one. Without GROUP BY the series merge into one, in time order, so LIMIT takes the most
# recent points of all of them. `{limit}` is MAX_PREDICTION_PAIRS (LIMIT takes no parameter).
PREDICTION_PAIRS = (
    'SELECT "predicted", "passed" FROM "candidate" WHERE time >= $since AND time <= $until'
    ' AND ("predicted" >= 0 OR "predicted" < 0)'
    " ORDER BY time DESC LIMIT {limit}"
)


# `element_stats`: one request, six statements over one diagram's visits and flows in a time
# window (and of one version when `by_version`). Outcome is a tag: counts and token totals
# per (element, outcome); distinct runs; durations of the visits not cancelled; visits with
# an incident; visits that failed or had one; then the flows taken per (gateway, flow).
_VISITS_IN = (
    'FROM "{measurement}" WHERE "diagram_id" = $diagram_id AND time >= $since AND time < $until'
)
_ELEMENT_STATS = (
    'SELECT count("duration_ms"), sum("tokens_in"), sum("tokens_out"), sum("model_ms") {visits}'
    ' GROUP BY "element_id", "outcome";'
    ' SELECT count(distinct("run_id")) {visits} GROUP BY "element_id";'
    ' SELECT mean("duration_ms"), percentile("duration_ms", 95) {visits}'
    ' AND "outcome" != \'cancelled\' GROUP BY "element_id";'
    ' SELECT count("duration_ms") {visits} AND "incidents" > 0 GROUP BY "element_id";'
    ' SELECT count("duration_ms") {visits}'
    ' AND ("outcome" = \'failed\' OR "incidents" > 0) GROUP BY "element_id";'
    ' SELECT count("run_id") {flows} GROUP BY "gateway", "flow"'
)


def element_stats(*, by_version: bool) -> str:
    """The statements of `element_stats`; `$version` is bound when `by_version`."""
    version = ' AND "diagram_version" = $version' if by_version else ""
    return _ELEMENT_STATS.format(
        visits=_VISITS_IN.format(measurement="visit") + version,
        flows=_VISITS_IN.format(measurement="flow") + version,
    )


def rows(series: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of one series of a query result, each as {column: value}."""
    columns = series.get("columns") or []
    return [dict(zip(columns, row, strict=False)) for row in series.get("values") or []]


def ns(at: datetime) -> int:
    """`at` as nanoseconds since the epoch (a naive `at` is UTC): InfluxDB's time."""
    return (as_utc(at) - EPOCH) // timedelta(microseconds=1) * 1000


def count(series: dict[str, Any]) -> int:
    """The value of `count(...)` in one series of a query result."""
    columns = series.get("columns") or []
    column = columns.index("count") if "count" in columns else len(columns) - 1
    return sum(int(row[column] or 0) for row in series.get("values") or [])


def total(statement: dict[str, Any]) -> int:
    """The value of `count(...)` over every series of one statement's result."""
    return sum(count(series) for series in statement.get("series", []))
