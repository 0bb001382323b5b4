"""The production outcome store: step, run and iteration outcomes as InfluxDB time series.

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
  passed (bool), agreement, run_id, task_id.

Booleans stay booleans: counts use `count(success)` with `WHERE success = true` and
`... = false` (two statements in one request), not a duplicated integer field.

Writes never wait for the server: `record_*` encode the point (`influxdb_client.Point`) and
append it to a bounded buffer; a background task sends batches (every `flush_interval`
seconds, or at once when `batch_size` points wait). A failed send keeps the points and is
retried with exponential backoff (up to 10 s). When the buffer is full the oldest points are
dropped, counted in `health().dropped` and logged as errors; so are points the server rejects
(HTTP 400: a field type conflict) and points still buffered at `close()`.

Two details keep counts exact:
- InfluxDB keeps ONE point per (measurement, tag set, timestamp): a second outcome with the
  same tags and time overwrites the first. `at` has microsecond resolution; the nanosecond
  digits below it are filled from a per-store counter (starting at a random offset), so
  outcomes recorded in the same microsecond stay distinct points. A retried batch resends
  identical lines, so a write that reached the server twice still counts once.
- Line protocol cannot carry control characters or a trailing backslash in a tag value:
  control characters become spaces and trailing backslashes are removed, on write and in
  queries alike (`_tag_value`). Query values are always bound parameters (`$name` plus the
  `params` JSON of the v1 API), never spliced into InfluxQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from influxdb_client import Point, WritePrecision

from adapters.learning import (
    MAX_PREDICTION_PAIRS,
    CandidateOutcome,
    IterationOutcome,
    LatencyStat,
    LearningUnavailable,
    PatternStats,
    RunOutcome,
    SeriesPoint,
    StepOutcome,
    StoreHealth,
    as_utc,
    check_bucket_s,
)

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DROPPED_BY_SERVER = re.compile(r"dropped=(\d+)")
_MAX_BACKOFF_S = 10.0
_LOG_EVERY_S = 10.0  # repeated drop/failure messages: at most one per this many seconds
# the server answered, but retrying the same points cannot succeed: they are lost (counted)
_REJECTED = frozenset({400, 413, 422})

_PATTERN_STATS = (
    'SELECT count("success") FROM "run" WHERE "task_type" = $task_type'
    ' AND "language" = $language AND "success" = true GROUP BY "pattern";'
    ' SELECT count("success") FROM "run" WHERE "task_type" = $task_type'
    ' AND "language" = $language AND "success" = false GROUP BY "pattern"'
)
# `{bucket}` is the bucket size in seconds, a validated int (check_bucket_s): GROUP BY time()
# takes no bound parameter. The upper bound is InfluxDB's largest time: with GROUP BY time()
# the default one is now(), which would leave out runs recorded with a later `at`.
_RUN_SERIES = (
    'SELECT count("success") FROM "run" WHERE time >= $since AND time <= $until'
    ' GROUP BY time({bucket}s), "pattern" fill(none);'
    ' SELECT count("success") FROM "run" WHERE time >= $since AND time <= $until'
    ' AND "success" = true GROUP BY time({bucket}s), "pattern" fill(none)'
)
_MAX_TIME_NS = 2**63 - 2  # InfluxDB's largest timestamp (models.MaxNanoTime)
# an empty model group is an absent tag in line protocol: `!= ''` keeps the series that have it
_MODEL_LATENCY = (
    'SELECT count("duration_ms"), mean("duration_ms"), percentile("duration_ms", 95)'
    ' FROM "step" WHERE time >= $since AND "model_group" != \'\' GROUP BY "model_group";'
    ' SELECT count("success") FROM "step" WHERE time >= $since'
    ' AND "model_group" != \'\' AND "success" = false GROUP BY "model_group"'
)
_ITERATION_STATS = (
    'SELECT count("helped") FROM "iteration" WHERE "signature" = $signature'
    ' AND "language" = $language AND "helped" = true;'
    ' SELECT count("helped") FROM "iteration" WHERE "signature" = $signature'
    ' AND "language" = $language'
)

_CANDIDATE_STATS = (
    'SELECT count("passed") FROM "candidate" WHERE "model_group" = $model_group'
    ' AND "task_type" = $task_type AND "language" = $language AND "passed" = true;'
    ' SELECT count("passed") FROM "candidate" WHERE "model_group" = $model_group'
    ' AND "task_type" = $task_type AND "language" = $language'
)
# InfluxQL has no IS NOT NULL: a comparison is false for a point without the field, and
# `predicted` is always finite (CandidateOutcome), so this keeps exactly the points that have
# one. Without GROUP BY the series merge into one, in time order, so LIMIT takes the most
# recent points of all of them. `{limit}` is MAX_PREDICTION_PAIRS (LIMIT takes no parameter).
_PREDICTION_PAIRS = (
    'SELECT "predicted", "passed" FROM "candidate" WHERE time >= $since AND time <= $until'
    ' AND ("predicted" >= 0 OR "predicted" < 0)'
    " ORDER BY time DESC LIMIT {limit}"
)


def _tag_value(value: str) -> str:
    """The form of a tag value that line protocol can carry (used for writes and queries)."""
    return _CONTROL.sub(" ", value).rstrip("\\")


def _text(value: str) -> str:
    return _CONTROL.sub(" ", value)


class InfluxOutcomeStore:
    """`OutcomeStore` on InfluxDB's v1 HTTP API; see the module docstring."""

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
        if buffer_size < 1 or batch_size < 1 or flush_interval <= 0:
            raise ValueError("buffer_size and batch_size must be >= 1, flush_interval > 0")
        self.url = url.rstrip("/")
        self.database = database
        self._buffer_size = buffer_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._flush_timeout = flush_timeout
        auth = httpx.BasicAuth(username, password or "") if username is not None else None
        self._client = httpx.AsyncClient(
            base_url=self.url,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(2.0, timeout)),
        )
        # line-protocol lines, oldest first; `_removed` is the sequence number of _buffer[0]
        # (lines ever removed from the front, sent or dropped)
        self._buffer: deque[str] = deque()
        self._removed = 0
        self._dropped = 0
        self._write_failures = 0  # consecutive failed sends
        self._write_error: str | None = None
        self._query_error: str | None = None
        self._drop_note: str | None = None  # why points were lost (kept after recovery)
        self._database_ready = False
        self._closed = False
        self._send_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ns_counter = itertools.count(secrets.randbelow(1000))
        self._last_log: dict[str, float] = {}

    # ---- writes -------------------------------------------------------------------------

    async def record_step(self, outcome: StepOutcome) -> None:
        point = (
            Point("step")
            .tag("pattern", _tag_value(outcome.pattern))
            .tag("step", _tag_value(outcome.step))
            .tag("operator", _tag_value(outcome.operator))
            .tag("model_group", _tag_value(outcome.model_group))
            .tag("deployment", _tag_value(outcome.deployment))
            .tag("language", _tag_value(outcome.language))
            .tag("task_type", _tag_value(outcome.task_type))
            .field("success", bool(outcome.success))
            .field("duration_ms", float(outcome.duration_ms))
            .field("tokens_in", int(outcome.tokens_in))
            .field("tokens_out", int(outcome.tokens_out))
            .field("score", None if outcome.score is None else float(outcome.score))
            .field("attempt", int(outcome.attempt))
            .field("iteration", int(outcome.iteration))
            .field("run_id", _text(outcome.run_id))
            .field("task_id", _text(outcome.task_id))
        )
        self._append(point, outcome.at)

    async def record_run(self, outcome: RunOutcome) -> None:
        point = (
            Point("run")
            .tag("pattern", _tag_value(outcome.pattern))
            .tag("language", _tag_value(outcome.language))
            .tag("task_type", _tag_value(outcome.task_type))
            .field("success", bool(outcome.success))
            .field("duration_ms", float(outcome.duration_ms))
            .field("tokens_in", int(outcome.tokens_in))
            .field("tokens_out", int(outcome.tokens_out))
            .field("iterations", int(outcome.iterations))
            .field("score", None if outcome.score is None else float(outcome.score))
            .field("run_id", _text(outcome.run_id))
        )
        self._append(point, outcome.at)

    async def record_iteration(self, outcome: IterationOutcome) -> None:
        point = (
            Point("iteration")
            .tag("signature", _tag_value(outcome.signature))
            .tag("language", _tag_value(outcome.language))
            .field("helped", bool(outcome.helped))
            .field("run_id", _text(outcome.run_id))
        )
        self._append(point, outcome.at)

    async def record_candidate(self, outcome: CandidateOutcome) -> None:
        point = (
            Point("candidate")
            .tag("model_group", _tag_value(outcome.model_group))
            .tag("task_type", _tag_value(outcome.task_type))
            .tag("language", _tag_value(outcome.language))
            .field("predicted", None if outcome.predicted is None else float(outcome.predicted))
            .field("passed", bool(outcome.passed))
            .field("agreement", float(outcome.agreement))
            .field("run_id", _text(outcome.run_id))
            .field("task_id", _text(outcome.task_id))
        )
        self._append(point, outcome.at)

    def _timestamp_ns(self, at: datetime) -> int:
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        micros = (at - _EPOCH) // timedelta(microseconds=1)
        return micros * 1000 + next(self._ns_counter) % 1000

    def _append(self, point: Point, at: datetime) -> None:
        line = point.time(self._timestamp_ns(at), WritePrecision.NS).to_line_protocol()
        if self._closed:
            self._count_dropped(1, "the store is closed")
            return
        if len(self._buffer) >= self._buffer_size:
            self._buffer.popleft()
            self._removed += 1
            self._count_dropped(1, f"the buffer is full ({self._buffer_size} points)")
        self._buffer.append(line)
        if len(self._buffer) >= self._batch_size and self._write_failures == 0:
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._flusher(), name=f"influx-flusher-{self.database}"
            )

    async def _flusher(self) -> None:
        while not self._closed:
            if self._write_failures:
                exponent = min(self._write_failures, 16)  # (a long outage must not overflow)
                delay = min(self._flush_interval * 2**exponent, _MAX_BACKOFF_S)
            else:
                delay = self._flush_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                # one batch per tick, and more while full batches wait
                while self._buffer and not self._closed:
                    if not await self._send_batch():
                        break
                    if len(self._buffer) < self._batch_size:
                        break
            except Exception:  # never let the flusher die silently
                log.exception("InfluxDB flusher for %s failed; it keeps running", self.url)

    async def flush(self) -> None:
        """Send everything buffered now; gives up after `flush_timeout` seconds or two
        failed attempts in a row (the points stay buffered). Never raises."""
        if not self._buffer:
            return
        try:
            async with asyncio.timeout(self._flush_timeout):
                failures = 0
                while self._buffer:
                    if await self._send_batch():
                        failures = 0
                        continue
                    failures += 1  # a second try: the first may have hit a stale connection
                    if failures >= 2:
                        break
                    await asyncio.sleep(0.05)
        except TimeoutError:
            self._write_failed(
                f"flush to InfluxDB at {self.url} gave up after {self._flush_timeout:g} s"
                f" with {len(self._buffer)} points buffered"
            )
        except Exception as exc:  # never raises: the points stay buffered
            log.exception("flush to InfluxDB at %s failed", self.url)
            self._write_error = f"flush to InfluxDB at {self.url} failed: {exc!r}"

    async def close(self) -> None:
        """Flush, stop the background task and close the HTTP client. Points that could not
        be delivered are counted as dropped."""
        if self._closed:
            return
        await self.flush()
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._buffer:
            left = len(self._buffer)
            self._buffer.clear()
            self._count_dropped(left, f"InfluxDB at {self.url} unreachable at close")
        await self._client.aclose()

    async def _send_batch(self) -> bool:
        """Send the oldest batch. True when the server answered (delivered or rejected)."""
        async with self._send_lock:
            if not self._buffer:
                return True
            if not self._database_ready and not await self._create_database():
                return False
            batch = list(itertools.islice(self._buffer, 0, self._batch_size))
            start = self._removed
            try:
                response = await self._client.post(
                    "/write",
                    params={"db": self.database, "precision": "ns"},
                    content="\n".join(batch).encode(),
                )
            except httpx.HTTPError as exc:
                return self._write_failed(
                    f"write to InfluxDB at {self.url} failed: {type(exc).__name__}: {exc}"
                )
            status = response.status_code
            if 200 <= status < 300:
                self._settle(start, len(batch), lost=0)
                self._write_ok()
                return True
            body = response.text.strip()[:500]
            if status == 404 and "database not found" in body:
                self._database_ready = False
                return self._write_failed(f"InfluxDB at {self.url}: {body}")
            if status in _REJECTED:
                found = _DROPPED_BY_SERVER.search(body)
                lost = min(int(found.group(1)), len(batch)) if found else len(batch)
                self._settle(start, len(batch), lost=lost)
                self._write_ok()
                self._drop_note = f"InfluxDB at {self.url} rejected {lost} points: {body}"
                log.error("InfluxDB at %s rejected %d points (lost): %s", self.url, lost, body)
                return True
            return self._write_failed(f"write to InfluxDB at {self.url}: HTTP {status} {body}")

    def _settle(self, start: int, sent: int, *, lost: int) -> None:
        """Remove a batch that the server answered for. Lines of it dropped meanwhile (buffer
        full while it was in flight) were counted as dropped: correct the count to `lost`."""
        end = start + sent
        dropped_in_flight = max(0, min(self._removed, end) - start)
        for _ in range(max(0, end - self._removed)):
            self._buffer.popleft()
        self._removed = max(self._removed, end)
        self._dropped += lost - dropped_in_flight

    async def _create_database(self) -> bool:
        try:
            response = await self._client.post(
                "/query", data={"q": f'CREATE DATABASE "{self.database}"'}
            )
        except httpx.HTTPError as exc:
            return self._write_failed(
                f"InfluxDB at {self.url} unreachable: {type(exc).__name__}: {exc}"
            )
        if response.status_code in (401, 403) or response.status_code >= 500:
            return self._write_failed(
                f"CREATE DATABASE at {self.url}: HTTP {response.status_code}"
                f" {response.text.strip()[:300]}"
            )
        if response.status_code != 200 or '"error"' in response.text:
            # InfluxDB 2.x/3.x: databases are DBRP mappings made outside; the write will tell
            log.warning(
                "CREATE DATABASE %s at %s: HTTP %d %s",
                self.database,
                self.url,
                response.status_code,
                response.text.strip()[:300],
            )
        self._database_ready = True
        return True

    def _write_ok(self) -> None:
        if self._write_failures:
            log.warning(
                "InfluxDB at %s reachable again after %d failed sends; %d points buffered",
                self.url,
                self._write_failures,
                len(self._buffer),
            )
        self._write_failures = 0
        self._write_error = None
        self._query_error = None  # the server answers again

    def _write_failed(self, message: str) -> bool:
        self._write_failures += 1
        self._write_error = message
        if self._write_failures == 1 or self._due("write"):
            log.warning("%s (%d points buffered, will retry)", message, len(self._buffer))
        return False

    def _count_dropped(self, n: int, why: str) -> None:
        self._dropped += n
        if self._dropped == n or self._due("drop"):
            log.error(
                "learning data LOST: dropped %d outcome points for InfluxDB at %s because %s"
                " (%d dropped so far)",
                n,
                self.url,
                why,
                self._dropped,
            )
        self._drop_note = f"{self._dropped} points dropped; last: {n} because {why}"

    def _due(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last_log.get(key, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._last_log[key] = now
            return True
        return False

    # ---- queries ------------------------------------------------------------------------

    async def pattern_stats(self, task_type: str, language: str) -> list[PatternStats]:
        params = {"task_type": _tag_value(task_type), "language": _tag_value(language)}
        successes, failures = await self._query(_PATTERN_STATS, params)
        counts: dict[str, list[int]] = {}
        for index, statement in enumerate((successes, failures)):
            for series in statement.get("series", []):
                pattern = str((series.get("tags") or {}).get("pattern", ""))
                counts.setdefault(pattern, [0, 0])[index] += _count(series)
        return [
            PatternStats(pattern=p, successes=s, failures=f)
            for p, (s, f) in sorted(counts.items())
            if s or f
        ]

    async def iteration_stats(self, signature: str, language: str) -> tuple[int, int]:
        params = {"signature": _tag_value(signature), "language": _tag_value(language)}
        helped, total = await self._query(_ITERATION_STATS, params)
        return (
            sum(_count(s) for s in helped.get("series", [])),
            sum(_count(s) for s in total.get("series", [])),
        )

    async def run_series(self, since: datetime, bucket_s: int) -> list[SeriesPoint]:
        bucket_s = check_bucket_s(bucket_s)
        params = {"since": _ns(since), "until": _MAX_TIME_NS}
        runs, successes = await self._query(_RUN_SERIES.format(bucket=bucket_s), params, epoch="s")
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
        durations, failed = await self._query(_MODEL_LATENCY, {"since": _ns(since)})
        failures = {
            str((series.get("tags") or {}).get("model_group", "")): _count(series)
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

    async def candidate_stats(
        self, model_group: str, task_type: str, language: str
    ) -> tuple[int, int]:
        params = {
            "model_group": _tag_value(model_group),
            "task_type": _tag_value(task_type),
            "language": _tag_value(language),
        }
        passed, total = await self._query(_CANDIDATE_STATS, params)
        return (
            sum(_count(s) for s in passed.get("series", [])),
            sum(_count(s) for s in total.get("series", [])),
        )

    async def prediction_pairs(self, since: datetime) -> list[tuple[float, bool]]:
        params = {"since": _ns(since), "until": _MAX_TIME_NS}
        [result] = await self._query(
            _PREDICTION_PAIRS.format(limit=MAX_PREDICTION_PAIRS), params, epoch="ns"
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
            self._query_error = f"query to InfluxDB at {self.url} failed: {exc!r}"
            raise LearningUnavailable(
                f"InfluxDB at {self.url} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code != 200 or "error" in data:
            detail = data.get("error") or response.text.strip()[:300]
            self._query_error = f"query to InfluxDB at {self.url}: HTTP {response.status_code}"
            raise LearningUnavailable(
                f"InfluxDB at {self.url} answered HTTP {response.status_code}: {detail}"
            )
        self._query_error = None
        results: list[dict[str, Any]] = list(data.get("results") or [])
        for result in results:
            error = result.get("error")
            if error and str(error).startswith("database not found"):
                return [{} for _ in range(statements)]
            if error:
                raise LearningUnavailable(f"InfluxDB at {self.url}: {error}")
        results.extend({} for _ in range(statements - len(results)))
        return results[:statements]

    def health(self) -> StoreHealth:
        return StoreHealth(
            backend="influxdb",
            healthy=self._write_failures == 0 and self._query_error is None,
            buffered=len(self._buffer),
            dropped=self._dropped,
            last_error=self._write_error or self._query_error or self._drop_note,
        )


def _ns(at: datetime) -> int:
    """`at` as nanoseconds since the epoch: a time bound for InfluxQL (`time >= $since`)."""
    return (as_utc(at) - _EPOCH) // timedelta(microseconds=1) * 1000


def _count(series: dict[str, Any]) -> int:
    """The value of `count(...)` in one series of a query result."""
    columns = series.get("columns") or []
    column = columns.index("count") if "count" in columns else len(columns) - 1
    return sum(int(row[column] or 0) for row in series.get("values") or [])
