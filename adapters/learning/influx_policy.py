"""Policy outcomes (`PolicyOutcome`) in InfluxDB: the InfluxQL of `policy_stats` and how it
reads the answer (influx.py writes the `policy` points and sends the query).

The measurement `policy` has the tags policy, element, task_type, language, failure_class,
choice and the fields success (bool), duration_ms, tokens, explored (bool), run_id, task_id.
One request of four statements, each over the points of one policy (and the filters asked
for), grouped by the five tags of a row of `ChoiceStats`: the count and means; the
successes; the exploration steps; the latest point (`last`, whose time the answer carries,
queried with epoch="ns"). Every value is a bound parameter; the tag names are the fixed
ones of `GROUP` (the measurement and "policy" are quoted: POLICY is an InfluxQL keyword).

InfluxQL cannot order groups by their latest point, so the server sends every group and
`stats` keeps the `MAX_CHOICE_STATS` whose latest outcome is the most recent (compared by
microsecond, the resolution of `at`; ties by the group's values), as PostgreSQL does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from adapters.learning import influxql
from adapters.learning.contract import MAX_CHOICE_STATS, ChoiceStats

# the tags a row of `policy_stats` is grouped by (and sorted by), and those it filters by
GROUP = ("element", "task_type", "language", "failure_class", "choice")
FILTERS = frozenset(("element", "task_type", "language", "failure_class"))
_GROUP_BY = ", ".join(f'"{tag}"' for tag in GROUP)


def query(filters: Iterable[str], *, since: bool) -> str:
    """The statements of `policy_stats`: `$policy` and `$until` are always bound, `$<tag>`
    for each tag in `filters` (names from `FILTERS`), `$since` when `since`."""
    names = sorted(filters)
    unknown = set(names) - FILTERS
    if unknown:
        raise ValueError(f"policy_stats cannot filter by {sorted(unknown)}")
    where = 'FROM "policy" WHERE "policy" = $policy'
    where += "".join(f' AND "{name}" = ${name}' for name in names)
    where += (" AND time >= $since" if since else "") + " AND time <= $until"
    return (
        f'SELECT count("success"), mean("duration_ms"), mean("tokens") {where}'
        f" GROUP BY {_GROUP_BY};"
        f' SELECT count("success") {where} AND "success" = true GROUP BY {_GROUP_BY};'
        f' SELECT count("explored") {where} AND "explored" = true GROUP BY {_GROUP_BY};'
        f' SELECT last("success") {where} GROUP BY {_GROUP_BY}'
    )


def _group(series: dict[str, Any]) -> tuple[str, ...]:
    tags = series.get("tags") or {}  # a tag a point has not (an empty value) reads as ""
    return tuple(str(tags.get(tag) or "") for tag in GROUP)


def stats(results: list[dict[str, Any]]) -> list[ChoiceStats]:
    """The rows of an answer to `query` (four statement results, times in nanoseconds)."""
    totals, successes, explored, latest = results
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for series in totals.get("series", []):
        for row in influxql.rows(series):
            if row["count"]:
                groups[_group(series)] = {
                    "total": int(row["count"]),
                    "mean_ms": float(row["mean"] or 0.0),
                    "mean_tokens": float(row["mean_1"] or 0.0),
                }
    counted = {
        name: {_group(series): influxql.count(series) for series in statement.get("series", [])}
        for name, statement in (("successes", successes), ("explored", explored))
    }
    last_us = {
        _group(series): max(int(row["time"]) // 1000 for row in influxql.rows(series))
        for series in latest.get("series", [])
        if series.get("values")
    }
    kept = sorted(groups, key=lambda group: (-last_us.get(group, 0), group))[:MAX_CHOICE_STATS]
    rows = []
    for group in sorted(kept):
        values = groups[group]
        ok = counted["successes"].get(group, 0)
        rows.append(
            ChoiceStats(
                **dict(zip(GROUP, group, strict=True)),
                successes=ok,
                failures=values["total"] - ok,
                mean_ms=values["mean_ms"],
                mean_tokens=values["mean_tokens"],
                explored=counted["explored"].get(group, 0),
            )
        )
    return rows
