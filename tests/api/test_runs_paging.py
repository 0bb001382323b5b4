"""The runs list at scale, against the real server and PostgreSQL: keyset pages stay stable
while runs start, filters, malformed cursors, and run id prefixes (unique, none, ambiguous).

Runs are inserted straight into the runs table (one statement for 2,000), not run: the list
reads nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.servers import Environment

BULK = 2000

_INSERT = """
INSERT INTO runs (id, diagram_version_id, entry, spec_versions, pattern, request, status,
                  state, state_format, created_at, updated_at, finished_at)
SELECT COALESCE((%(ids)s::uuid[])[g], gen_random_uuid()),
       (SELECT min(id) FROM diagram_versions), %(entry)s, '{}'::jsonb,
       (ARRAY['quick', 'standard', 'bug_fix'])[g %% 3 + 1],
       jsonb_build_object('text', %(text)s || ' ' || g, 'language', 'python', 'files', '{}'),
       CASE WHEN g %% 2 = 0 THEN 'completed' ELSE 'failed' END,
       '{}'::json, 1, t, t, t
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT %(start)s::timestamptz - ((g - 1) / %(same)s) * interval '1 second' AS t) AS at
RETURNING id, created_at, status, pattern
"""


def database(env: Environment) -> psycopg.Connection[Any]:
    return psycopg.connect(env.database_url.replace("postgresql+psycopg://", "postgresql://"))


def insert_runs(
    env: Environment,
    n: int,
    *,
    entry: str,
    text: str,
    start: datetime | None = None,
    same: int = 1,
    ids: list[str] | None = None,
) -> list[dict[str, Any]]:
    """`n` finished runs started with process `entry`, request `text N`, run N started at
    `start` (default now) less (N - 1) // `same` seconds (`same` runs share each time),
    newest first; `ids` sets the first ids."""
    with database(env) as conn:
        rows = conn.execute(
            _INSERT,
            {
                "ids": ids or [],
                "entry": entry,
                "text": text,
                "n": n,
                "start": start or datetime.now(UTC),
                "same": same,
            },
        ).fetchall()
    found = [dict(zip(("id", "created_at", "status", "pattern"), r, strict=True)) for r in rows]
    return sorted(found, key=_key, reverse=True)


def _key(run: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
    return run["created_at"], run["id"]


def delete_runs(env: Environment, entry: str) -> None:
    with database(env) as conn:
        conn.execute("DELETE FROM runs WHERE entry = %s", (entry,))


@dataclass
class Bulk:
    entry: str
    text: str
    runs: list[dict[str, Any]]  # newest first


@pytest.fixture(scope="module")
def bulk(env: Environment) -> Iterator[Bulk]:
    tag = uuid.uuid4().hex[:10]
    entry, text = f"paging_{tag}", f"paging {tag} request"
    # an hour ago, four runs to each second: pages end inside a group of equal times
    start = datetime.now(UTC) - timedelta(hours=1)
    yield Bulk(entry, text, insert_runs(env, BULK, entry=entry, text=text, start=start, same=4))
    delete_runs(env, entry)


def pages(
    api: httpx.Client, params: dict[str, Any], between: Any = None
) -> Iterator[list[dict[str, Any]]]:
    """Every page of the runs list, calling `between()` before reading each next page."""
    cursor = None
    while True:
        resp = api.get("/api/runs", params={**params, **({"cursor": cursor} if cursor else {})})
        assert resp.status_code == 200, resp.text
        yield resp.json()
        cursor = resp.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in resp.headers
            return
        assert f"cursor={cursor}" in resp.headers["Link"] and 'rel="next"' in resp.headers["Link"]
        if between:
            between()


def test_every_run_once_and_in_order_while_runs_arrive(
    env: Environment, api: httpx.Client, bulk: Bulk
) -> None:
    arrived: list[dict[str, Any]] = []

    def more() -> None:  # runs starting now: newer than every page read so far
        arrived.extend(insert_runs(env, 3, entry=bulk.entry, text=f"{bulk.text} new", same=3))

    try:
        read = [run for page in pages(api, {"limit": 100}, more) for run in page]
        originals = {str(r["id"]) for r in bulk.runs}
        seen = [r["id"] for r in read if r["id"] in originals]
        assert seen == [str(r["id"]) for r in bulk.runs]  # each once, newest first
        assert len({r["id"] for r in read}) == len(read)  # nothing twice across pages
        # the runs started while paging are newer than the first page: none was listed
        assert not {str(r["id"]) for r in arrived} & {r["id"] for r in read}
        assert len(arrived) >= 3 * (BULK // 100 - 1)

        # filtered to this module's runs, in pages of 500, while runs still arrive
        before = [str(r["id"]) for r in sorted(arrived, key=_key, reverse=True)]
        filtered = list(pages(api, {"limit": 500, "diagram": bulk.entry}, more))
        assert [len(page) for page in filtered][:-1] == [500] * (len(filtered) - 1)
        listed = [r["id"] for page in filtered for r in page]
        assert listed == before + [str(r["id"]) for r in bulk.runs]
        assert all(r["entry"] == bulk.entry for page in filtered for r in page)
    finally:
        with database(env) as conn:
            conn.execute("DELETE FROM runs WHERE id = ANY(%s)", ([r["id"] for r in arrived],))


def listed(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return [r for page in pages(api, {"limit": 500, **params}) for r in page]


def test_filters(api: httpx.Client, bulk: Bulk) -> None:
    def ids(runs: list[dict[str, Any]]) -> list[str]:
        return [str(r["id"]) for r in runs]

    mine = {"diagram": bulk.entry}
    assert ids(listed(api, **mine)) == ids(bulk.runs)
    assert listed(api, diagram=f"{bulk.entry}x") == []
    for status in ("completed", "failed"):
        want = [r for r in bulk.runs if r["status"] == status]
        assert ids(listed(api, status=status, **mine)) == ids(want)
    want = [r for r in bulk.runs if r["pattern"] == "bug_fix"]
    assert ids(listed(api, pattern="bug_fix", status="failed", **mine)) == ids(
        [r for r in want if r["status"] == "failed"]
    )
    # request text, case-insensitive, LIKE characters taken literally
    [one] = listed(api, q=f"{bulk.text.upper()} 1234")
    assert one["request"]["text"] == f"{bulk.text} 1234" and one["entry"] == bulk.entry
    assert len(listed(api, q=f"{bulk.text} 12")) == 1 + 10 + 100  # 12, 12x, 12xx
    assert listed(api, q=f"{bulk.text} 1_34") == []
    # created_at: since inclusive, until exclusive; a time without a zone is UTC
    times = sorted({r["created_at"] for r in bulk.runs})
    since, until = times[100], times[200]
    want = [r for r in bulk.runs if since <= r["created_at"] < until]
    naive = since.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert ids(listed(api, since=naive, until=until.isoformat(), **mine)) == ids(want)
    assert len(want) == 400
    assert listed(api, since=until.isoformat(), until=since.isoformat(), **mine) == []
    # an id prefix, with or without dashes, any case
    first = str(bulk.runs[0]["id"])
    for prefix in (first[:13], first[:13].replace("-", "").upper(), first):
        assert first in ids(listed(api, id_prefix=prefix, **mine))
    assert all(r["id"].startswith(first[:2]) for r in listed(api, id_prefix=first[:2]))


def test_odd_paging_requests_are_clear_422s(api: httpx.Client, bulk: Bulk) -> None:
    for cursor in ("nonsense", "MXxub3R8YQ", "%%%", "é", "MXwyMDI1LTAxLTAxVDAwOjAwOjAwfHh4"):
        resp = api.get("/api/runs", params={"cursor": cursor})
        assert resp.status_code == 422, (cursor, resp.text)
        assert "cursor" in resp.json()["detail"] and "malformed" in resp.json()["detail"]
    for params in ({"limit": 0}, {"limit": 501}, {"id_prefix": "xyz"}, {"since": "yesterday"}):
        assert api.get("/api/runs", params=params).status_code == 422, params
    resp = api.get("/api/runs", params={"id_prefix": "----"})
    assert resp.status_code == 422 and "hex digits" in resp.json()["detail"]
    # a cursor carries its position only: another filter continues from the same place
    mine = {"diagram": bulk.entry}
    cursor = api.get("/api/runs", params={"limit": 10, **mine}).headers["X-Next-Cursor"]
    after = api.get("/api/runs", params={"limit": 5, "status": "failed", "cursor": cursor, **mine})
    older = [str(r["id"]) for r in bulk.runs[10:] if r["status"] == "failed"]
    assert [r["id"] for r in after.json()] == older[:5]


@pytest.fixture(scope="module")
def prefixed(env: Environment) -> Iterator[tuple[str, list[str]]]:
    """A fresh 8-digit prefix, and 12 runs whose ids start with it (newest first)."""
    tag = uuid.uuid4().hex[:8]
    entry = f"prefix_{tag}"
    ids = [str(uuid.UUID(f"{tag}{i:04x}{0:020x}")) for i in range(12)]
    runs = insert_runs(env, 12, entry=entry, text=f"prefix {tag}", ids=ids)
    yield tag, [str(r["id"]) for r in runs]
    delete_runs(env, entry)


def test_run_id_prefixes(api: httpx.Client, prefixed: tuple[str, list[str]]) -> None:
    tag, ids = prefixed
    last = ids[-1]  # f"{tag}-000b-0000-…": no other id starts as it does
    # unique: the run, whichever way the prefix is written
    for ref in (last, last[:-1], last.replace("-", ""), last.upper(), f" {last[:-1]} "):
        resp = api.get(f"/api/runs/{ref}")
        assert resp.status_code == 200, (ref, resp.text)
        assert resp.json()["id"] == last
    assert api.get(f"/api/runs/{last[:-1]}/events").status_code == 200
    # none: 404 naming the prefix
    missing = f"{tag}ffff"
    resp = api.get(f"/api/runs/{missing}")
    assert resp.status_code == 404 and missing in resp.json()["detail"]
    assert api.get(f"/api/runs/{missing}/events").status_code == 404
    absent = str(uuid.uuid4())  # a full id is read, not searched: the run's own 404
    assert api.get(f"/api/runs/{absent}").status_code == 404
    # several: 409 naming the prefix and listing at most 10 candidates, newest first
    resp = api.get(f"/api/runs/{tag}")
    assert resp.status_code == 409
    body = resp.json()
    assert [c["id"] for c in body["candidates"]] == ids[:10]
    assert body["candidates"][0]["request"].startswith(f"prefix {tag}")
    assert tag in body["detail"] and "more than 10" in body["detail"]
    assert all(i in body["detail"] for i in ids[:10]) and ids[10] not in body["detail"]
    resp = api.get(f"/api/runs/{tag}-000/events")  # other reads: the same 409 message
    assert resp.status_code == 409 and f"{tag}-000" in resp.json()["detail"]
    # too short, or not hex: 422 saying what a prefix is
    for ref in (tag[:3], "zzzz", "----"):
        resp = api.get(f"/api/runs/{ref}")
        assert resp.status_code == 422 and "hex digits" in resp.json()["detail"], ref
    # the list's id_prefix filter finds all of them
    assert [r["id"] for r in listed(api, id_prefix=tag)] == ids
