"""The production outcome store: step, run and iteration outcomes as InfluxDB time series.
One class implements the whole outcome contract for this store (over 400 lines, its
queries in `influxql`), as `postgres` does for PostgreSQL: the contract suite runs both.

Speaks only the InfluxDB v1 HTTP API (`POST /write` with line protocol, `/query` with
InfluxQL), which InfluxDB 1.x serves and 2.x/3.x serve as compatibility endpoints; on 2.x/3.x
the database (a DBRP mapping) must exist, `CREATE DATABASE` is only tried.

Measurements (tags are indexed strings, fields are values):
- `step`: tags pattern, step, operator, model_group, deployment, language, task_type;
  fields success (bool), duration_ms, tokens_in, tokens_out, score (absent when None),
  attempt, iteration, run_id, task_id.
- `run`: tags pattern, language, task_type; fields success (bool), duration_ms, tokens_in,
  tokens_out, iterations, score, run_id.
- `iteration`: tags signature, language; fields helped (bool), run_id.
- `candidate`: tags model_group, task_type, language; fields predicted (absent when None),
  passed (bool), agreement, run_id, task_id, and the features as `f_<name>` floats with
  their count `n_features` (influx_features.py).
- `visit`: tags diagram_id, diagram_version, element_id, kind, outcome; fields run_id,
  task_id, incidents, duration_ms, model_ms (absent when None), tokens_in, tokens_out.
- `flow`: tags diagram_id, diagram_version, gateway, flow; field run_id.
- `policy`: tags policy, element, task_type, language, failure_class, choice; fields success
  (bool), duration_ms, tokens, explored (bool), run_id, task_id (its query in
  influx_policy.py).

Writes never wait for the server: `record_*` encode the point (`influxdb_client.Point`, one
line of line protocol) and hand it to the shared buffered sender (buffered.py: bounded buffer,
background batches, backoff up to 10 s, nothing lost silently). A batch the server rejects
(HTTP 400: a field type conflict) is not retried: its points are dropped and counted.
A point's tags and fields are named in `_TAGS` and `_FIELDS`; a field keeps its type in the
contract (bool, int, float; text with control characters made spaces).

Two details keep counts exact:
- InfluxDB keeps ONE point per (measurement, tag set, timestamp): a second outcome with the
  same tags and time overwrites the first. `at` has microsecond resolution; the nanosecond
  digits below it are filled from a per-store counter (starting at a random offset), so
  outcomes recorded in the same microsecond stay distinct points. A retried batch resends
  identical lines, so a write that reached the server twice still counts once.
- Line protocol cannot carry control characters or a trailing backslash in a tag value:
  control characters become spaces and trailing backslashes are removed, on write and in
  queries alike (`_tag_value`). The queries are in influxql.py.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, get_args

import httpx
from influxdb_client import Point, WritePrecision
from pydantic import BaseModel

from adapters.learning import influx_features, influx_policy, influxql
from adapters.learning.buffered import BufferedStore, SendFailed
from adapters.learning.contract import (
    MAX_PREDICTION_PAIRS,
    CandidateOutcome,
    ChoiceStats,
    DiagramStats,
    ElementStats,
    ElementVisit,
    FlowStats,
    FlowTaken,
    IterationOutcome,
    LatencyStat,
    LearningUnavailable,
    OutcomeStore,
    PatternStats,
    PolicyOutcome,
    RunOutcome,
    SeriesPoint,
    StepOutcome,
    check_bucket_s,
)

_DATABASE_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DROPPED_BY_SERVER = re.compile(r"dropped=(\d+)")
_MAX_BACKOFF_S = 10.0
# the server answered, but retrying the same points cannot succeed: they are lost (counted)
_REJECTED = frozenset({400, 413, 422})

# per measurement, the outcome attributes that become its tags (indexed strings) and fields
_TAGS = {
    "step": "pattern step operator model_group deployment language task_type",
    "run": "pattern language task_type",
    "iteration": "signature language",
    "candidate": "model_group task_type language",
    "visit": "diagram_id diagram_version element_id kind outcome",
    "flow": "diagram_id diagram_version gateway flow",
    "policy": "policy element task_type language failure_class choice",
}
_FIELDS = {
    "step": "success duration_ms tokens_in tokens_out score attempt iteration run_id task_id",
    "run": "success duration_ms tokens_in tokens_out iterations score run_id",
    "iteration": "helped run_id",
    "candidate": "predicted passed agreement run_id task_id",
    "visit": "run_id task_id incidents duration_ms model_ms tokens_in tokens_out",
    "flow": "run_id",
    "policy": "success duration_ms tokens explored run_id task_id",
}


def _tag_value(value: str) -> str:
    """The form of a tag value that line protocol can carry (used for writes and queries)."""
    return _CONTROL.sub(" ", value).rstrip("\\")


def _text(value: str) -> str:
    return _CONTROL.sub(" ", value)


@functools.cache
def _field_type(model: type[BaseModel], name: str) -> Callable[[Any], Any]:
    """How a field is written: its type in the contract (bool, int, float, or text)."""
    annotation = model.model_fields[name].annotation
    kind = next(t for t in get_args(annotation) or (annotation,) if t is not type(None))
    return _text if kind is str else kind  # type: ignore[no-any-return]


def _point(measurement: str, outcome: BaseModel) -> Point:
    """`outcome` as a point without its time; a None field is left out."""
    point = Point(measurement)
    for tag in _TAGS[measurement].split():
        point.tag(tag, _tag_value(str(getattr(outcome, tag))))
    for name in _FIELDS[measurement].split():
        value = getattr(outcome, name)
        point.field(name, None if value is None else _field_type(type(outcome), name)(value))
    return point


class InfluxOutcomeStore(BufferedStore[str], OutcomeStore):
    """`OutcomeStore` on InfluxDB's v1 HTTP API; see the module docstring. Its buffer holds
    line-protocol lines."""

    backend = "influxdb"
    server = "InfluxDB"
    unit = "points"

    def __init__(
        self,
        url: str,
        database: str = "weavergen",
        *,
        username: str | None = None,
        password: str | None = None,
        buffer_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        timeout: float = 5.0,
        flush_timeout: float = 5.0,
    ) -> None:
        if not _DATABASE_NAME.fullmatch(database):
            raise ValueError(f"database name {database!r}: use letters, digits, _ . -")
        self.url = url.rstrip("/")
        self.database = database
        super().__init__(
            self.url,
            buffer_size=buffer_size,
            batch_size=batch_size,
            flush_interval=flush_interval,
            flush_timeout=flush_timeout,
            max_backoff=_MAX_BACKOFF_S,
        )
        auth = httpx.BasicAuth(username, password or "") if username is not None else None
        self._client = httpx.AsyncClient(
            base_url=self.url,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(2.0, timeout)),
        )
        self._database_ready = False
        self._ns_counter = itertools.count(secrets.randbelow(1000))

    # ---- writes -------------------------------------------------------------------------

    async def record_step(self, outcome: StepOutcome) -> None:
        self._append(_point("step", outcome), outcome.at)

    async def record_run(self, outcome: RunOutcome) -> None:
        self._append(_point("run", outcome), outcome.at)

    async def record_iteration(self, outcome: IterationOutcome) -> None:
        self._append(_point("iteration", outcome), outcome.at)

    async def record_candidate(self, outcome: CandidateOutcome) -> None:
        point = influx_features.add_features(_point("candidate", outcome), outcome.features)
        self._append(point, outcome.at)

    async def record_policy(self, outcome: PolicyOutcome) -> None:
        self._append(_point("policy", outcome), outcome.at)

    async def record_visits(self, visits: list[ElementVisit], flows: list[FlowTaken]) -> None:
        for visit in visits:
            self._append(_point("visit", visit), visit.at)
        for flow in flows:
            self._append(_point("flow", flow), flow.at)

    def _append(self, point: Point, at: datetime) -> None:
        # the nanoseconds below `at`'s microseconds keep same-microsecond outcomes apart
        at_ns = influxql.ns(at) + next(self._ns_counter) % 1000
        self._enqueue(point.time(at_ns, WritePrecision.NS).to_line_protocol())

    async def _send_batch(self, batch: list[str]) -> None:
        if not self._database_ready:
            await self._create_database()
        try:
            response = await self._client.post(
                "/write",
                params={"db": self.database, "precision": "ns"},
                content="\n".join(batch).encode(),
            )
        except httpx.HTTPError as exc:
            raise SendFailed(
                f"write to InfluxDB at {self.url} failed: {type(exc).__name__}: {exc}"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        body = response.text.strip()[:500]
        if status == 404 and "database not found" in body:
            self._database_ready = False
            raise SendFailed(f"InfluxDB at {self.url}: {body}")
        if status not in _REJECTED:
            raise SendFailed(f"write to InfluxDB at {self.url}: HTTP {status} {body}")
        found = _DROPPED_BY_SERVER.search(body)
        lost = min(int(found.group(1)), len(batch)) if found else len(batch)
        why = f"InfluxDB at {self.url} rejected {lost} points: {body}"
        self._count_dropped(lost, why, always=True)

    async def _create_database(self) -> None:
        try:
            response = await self._client.post(
                "/query", data={"q": f'CREATE DATABASE "{self.database}"'}
            )
        except httpx.HTTPError as exc:
            raise SendFailed(
                f"InfluxDB at {self.url} unreachable: {type(exc).__name__}: {exc}"
            ) from None
        if response.status_code in (401, 403) or response.status_code >= 500:
            raise SendFailed(
                f"CREATE DATABASE at {self.url}: HTTP {response.status_code}"
                f" {response.text.strip()[:300]}"
            )
        if response.status_code != 200 or '"error"' in response.text:
            # InfluxDB 2.x/3.x: databases are DBRP mappings made outside; the write will tell
            self._log.warning(
                "CREATE DATABASE %s at %s: HTTP %d %s",
                self.database,
                self.url,
                response.status_code,
                response.text.strip()[:300],
            )
        self._database_ready = True

    async def _close_backend(self) -> None:
        await self._client.aclose()

    # ---- queries ------------------------------------------------------------------------

    async def pattern_stats(self, task_type: str, language: str) -> list[PatternStats]:
        params = {"task_type": _tag_value(task_type), "language": _tag_value(language)}
        successes, failures = await self._query(influxql.PATTERN_STATS, params)
        counts: dict[str, list[int]] = {}
        for index, statement in enumerate((successes, failures)):
            for series in statement.get("series", []):
                pattern = str((series.get("tags") or {}).get("pattern", ""))
                counts.setdefault(pattern, [0, 0])[index] += influxql.count(series)
        return [
            PatternStats(pattern=p, successes=s, failures=f)
            for p, (s, f) in sorted(counts.items())
            if s or f
        ]

    async def iteration_stats(self, signature: str, language: str) -> tuple[int, int]:
        params = {"signature": _tag_value(signature), "language": _tag_value(language)}
        helped, total = await self._query(influxql.ITERATION_STATS, params)
        return influxql.total(helped), influxql.total(total)

    async def run_series(self, since: datetime, bucket_s: int) -> list[SeriesPoint]:
        bucket_s = check_bucket_s(bucket_s)
        params = {"since": influxql.ns(since), "until": influxql.MAX_TIME_NS}
        runs, successes = await self._query(
            influxql.RUN_SERIES.format(bucket=bucket_s), params, epoch="s"
        )
        counts: dict[tuple[int, str], list[int]] = {}
        for index, statement in enumerate((runs, successes)):
            for series in statement.get("series", []):
                pattern = str((series.get("tags") or {}).get("pattern", ""))
                columns = series.get("columns") or []
                at, count = columns.index("time"), columns.index("count")
                for row in series.get("values") or []:
                    key = (int(row[at]), pattern)
                    counts.setdefault(key, [0, 0])[index] += int(row[count] or 0)
        return [
            SeriesPoint(
                pattern=pattern,
                bucket=datetime.fromtimestamp(start, UTC),
                runs=total,
                successes=ok,
            )
            for (start, pattern), (total, ok) in sorted(counts.items())
            if total
        ]

    async def model_latency(self, since: datetime) -> list[LatencyStat]:
        durations, failed = await self._query(influxql.MODEL_LATENCY, {"since": influxql.ns(since)})
        failures = {
            str((series.get("tags") or {}).get("model_group", "")): influxql.count(series)
            for series in failed.get("series", [])
        }
        stats = []
        for series in durations.get("series", []):
            group = str((series.get("tags") or {}).get("model_group", ""))
            columns = series.get("columns") or []
            for row in series.get("values") or []:
                calls = int(row[columns.index("count")] or 0)
                if not group or not calls:
                    continue
                stats.append(
                    LatencyStat(
                        model_group=group,
                        calls=calls,
                        failures=failures.get(group, 0),
                        mean_ms=float(row[columns.index("mean")]),
                        p95_ms=float(row[columns.index("percentile")]),
                    )
                )
        return sorted(stats, key=lambda s: s.model_group)

    async def element_stats(
        self,
        diagram_id: str,
        since: datetime,
        until: datetime | None = None,
        version: int | None = None,
    ) -> DiagramStats:
        params: dict[str, str | int] = {
            "diagram_id": _tag_value(diagram_id),
            "since": influxql.ns(since),
            "until": influxql.ns(until) if until is not None else influxql.MAX_TIME_NS,
        }
        if version is not None:
            params["version"] = str(version)
        query = influxql.element_stats(by_version=version is not None)
        outcomes, runs, durations, incidents, failures, flows = await self._query(query, params)
        elements: dict[str, dict[str, Any]] = {}

        def element(series: dict[str, Any]) -> dict[str, Any]:
            element_id = str((series.get("tags") or {}).get("element_id", ""))
            unvisited = ElementStats(element_id=element_id).model_dump(exclude={"failure_rate"})
            return elements.setdefault(element_id, unvisited)

        for series in outcomes.get("series", []):
            stats, outcome = element(series), str(series["tags"].get("outcome", ""))
            for row in influxql.rows(series):
                stats["visits"] += int(row["count"] or 0)
                stats[outcome] = stats.get(outcome, 0) + int(row["count"] or 0)
                stats["tokens_in"] += int(row["sum"] or 0)
                stats["tokens_out"] += int(row["sum_1"] or 0)
                stats["model_ms"] += float(row["sum_2"] or 0.0)
        for name, statement in (("runs", runs), ("incidents", incidents), ("failures", failures)):
            for series in statement.get("series", []):
                element(series)[name] = influxql.count(series)
        for series in durations.get("series", []):
            for row in influxql.rows(series):
                element(series)["mean_ms"] = float(row["mean"])
                element(series)["p95_ms"] = float(row["percentile"])
        taken = [
            FlowStats(
                gateway=str(series["tags"].get("gateway", "")),
                flow=str(series["tags"].get("flow", "")),
                taken=influxql.count(series),
            )
            for series in flows.get("series", [])
        ]
        return DiagramStats(
            elements=[
                ElementStats.model_validate(stats)
                for _, stats in sorted(elements.items())
                if stats["visits"]
            ],
            flows=sorted((f for f in taken if f.taken), key=lambda f: (f.gateway, f.flow)),
        )

    async def candidate_stats(
        self, model_group: str, task_type: str, language: str
    ) -> tuple[int, int]:
        params = {
            "model_group": _tag_value(model_group),
            "task_type": _tag_value(task_type),
            "language": _tag_value(language),
        }
        passed, total = await self._query(influxql.CANDIDATE_STATS, params)
        return influxql.total(passed), influxql.total(total)

    async def prediction_pairs(self, since: datetime) -> list[tuple[float, bool]]:
        params = {"since": influxql.ns(since), "until": influxql.MAX_TIME_NS}
        [result] = await self._query(
            influxql.PREDICTION_PAIRS.format(limit=MAX_PREDICTION_PAIRS), params, epoch="ns"
        )
        rows: list[tuple[int, float, bool]] = []
        for series in result.get("series", []):
            columns = series.get("columns") or []
            at, predicted = columns.index("time"), columns.index("predicted")
            passed = columns.index("passed")
            for row in series.get("values") or []:
                if row[predicted] is not None and row[passed] is not None:
                    rows.append((int(row[at]), float(row[predicted]), bool(row[passed])))
        rows.sort(key=lambda r: r[0])  # oldest first (the server sent the newest first)
        return [(p, ok) for _, p, ok in rows]

    async def prediction_samples(self, since: datetime) -> list[tuple[dict[str, float], bool]]:
        params = {"since": influxql.ns(since), "until": influxql.MAX_TIME_NS}
        query = influx_features.PREDICTION_SAMPLES.format(limit=MAX_PREDICTION_PAIRS)
        [result] = await self._query(query, params, epoch="ns")
        return influx_features.samples(result)

    async def policy_stats(
        self,
        policy: str,
        *,
        element: str | None = None,
        task_type: str | None = None,
        language: str | None = None,
        failure_class: str | None = None,
        since: datetime | None = None,
    ) -> list[ChoiceStats]:
        filters = {
            "element": element,
            "task_type": task_type,
            "language": language,
            "failure_class": failure_class,
        }
        params: dict[str, str | int] = {
            name: _tag_value(value) for name, value in filters.items() if value is not None
        }
        query = influx_policy.query(list(params), since=since is not None)
        params |= {"policy": _tag_value(policy), "until": influxql.MAX_TIME_NS}
        if since is not None:
            params["since"] = influxql.ns(since)
        return influx_policy.stats(await self._query(query, params, epoch="ns"))

    async def _query(
        self, query: str, params: Mapping[str, str | int], *, epoch: str | None = None
    ) -> list[dict[str, Any]]:
        """Run InfluxQL statements with bound parameters; one result per statement. A database
        that does not exist yet reads as empty. `epoch` ("s", "ms", ...) returns times as
        integers in that unit instead of RFC 3339 strings."""
        statements = query.count(";") + 1
        query_params = {"db": self.database, "q": query, "params": json.dumps(params)}
        if epoch is not None:
            query_params["epoch"] = epoch
        try:
            response = await self._client.get("/query", params=query_params)
        except httpx.HTTPError as exc:
            raise self._query_failed(
                f"InfluxDB at {self.url} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200 or "error" in data:
            detail = data.get("error") or response.text.strip()[:300]
            raise self._query_failed(
                f"InfluxDB at {self.url} answered HTTP {response.status_code}: {detail}"
            )
        self._query_ok()
        results: list[dict[str, Any]] = list(data.get("results") or [])
        for result in results:
            error = result.get("error")
            if error and str(error).startswith("database not found"):
                return [{} for _ in range(statements)]
            if error:
                raise LearningUnavailable(f"InfluxDB at {self.url}: {error}")
        results.extend({} for _ in range(statements - len(results)))
        return results[:statements]
