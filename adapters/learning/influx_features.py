"""A candidate's features (`CandidateOutcome.features`) in InfluxDB: one float field per
feature on the `candidate` point, named `f_<feature>` (`FEATURE_PREFIX`), and an int field
`n_features` that counts them, so `prediction_samples` selects exactly the points that have
features (InfluxQL cannot test a field for presence by a pattern of names).

A feature whose value is not finite (NaN, infinity) cannot be stored and is left out; a point
left without features has no `n_features` field. Reading back, the prefix is removed: the
feature names are the ones written (line protocol escapes what a field key needs escaped).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from influxdb_client import Point

FEATURE_PREFIX = "f_"
COUNT_FIELD = "n_features"

# `{limit}` is MAX_PREDICTION_PAIRS (LIMIT takes no parameter); the series merge into one in
# time order without GROUP BY, so LIMIT takes the most recent points of all of them
PREDICTION_SAMPLES = (
    'SELECT "passed", /^f_/ FROM "candidate"'
    ' WHERE time >= $since AND time <= $until AND "n_features" > 0'
    " ORDER BY time DESC LIMIT {limit}"
)


def add_features(point: Point, features: Mapping[str, float]) -> Point:
    """The point with a field per finite feature and their count."""
    kept = {name: float(v) for name, v in features.items() if math.isfinite(float(v))}
    for name, value in sorted(kept.items()):
        point.field(f"{FEATURE_PREFIX}{name}", value)
    if kept:
        point.field(COUNT_FIELD, len(kept))
    return point


def samples(result: dict[str, Any]) -> list[tuple[dict[str, float], bool]]:
    """(features, passed) of the points of a `PREDICTION_SAMPLES` answer (queried with
    epoch="ns"), oldest first."""
    rows: list[tuple[int, dict[str, float], bool]] = []
    for series in result.get("series", []):
        columns = series.get("columns") or []
        at, passed = columns.index("time"), columns.index("passed")
        named = [
            (i, c[len(FEATURE_PREFIX) :])
            for i, c in enumerate(columns)
            if c.startswith(FEATURE_PREFIX)
        ]
        for row in series.get("values") or []:
            features = {name: float(row[i]) for i, name in named if row[i] is not None}
            if features and row[passed] is not None:
                rows.append((int(row[at]), features, bool(row[passed])))
    rows.sort(key=lambda r: r[0])  # oldest first (the server sent the newest first)
    return [(f, ok) for _, f, ok in rows]
