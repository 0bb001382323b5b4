"""The `weavergen` CLI against the real server: run follows to the end, show/runs/incidents."""

from __future__ import annotations

import json
import subprocess
import uuid

from tests.api.helpers import final_files, pytest_passes
from tests.api.test_runs_paging import delete_runs, insert_runs
from tests.servers import BIN, Environment


def cli(env: Environment, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "weavergen"), *args, "--server", env.url],
        env={**env.env, "WEAVERGEN_TOKEN": env.token},
        cwd=env.workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_run_completes_and_exits_zero(env: Environment) -> None:
    out = cli(
        env,
        "run",
        "Write a function add(a, b) that returns their sum",
        "--language",
        "python",
        "--pattern",
        "quick",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    assert run["status"] == "completed" and run["pattern"] == "quick"
    with env.client() as api:
        files = final_files(api, run)
    assert set(files) == {"solution.py", "test_solution.py"}
    assert pytest_passes(files).returncode == 0

    shown = cli(env, "show", run["id"])
    assert shown.returncode == 0 and "decide_next" in shown.stdout and "solution.py" in shown.stdout
    assert "validation validate: passed score 1.00 tests 2/2" in shown.stdout
    listed = cli(env, "runs", "--json")
    assert run["id"] in [r["id"] for r in json.loads(listed.stdout)]
    assert cli(env, "incidents").returncode == 0


def test_run_that_fails_exits_nonzero(env: Environment) -> None:
    out = cli(env, "run", "Write a function add(a, b) NEVER-PASSES", "--pattern", "quick")
    assert out.returncode == 1
    assert "failed" in out.stderr


def test_bad_language_is_a_clear_error(env: Environment) -> None:
    out = cli(env, "run", "hello", "--language", "cobol")
    assert out.returncode == 1
    assert "HTTP 422" in out.stderr and "language" in out.stderr


def test_unreachable_server_is_a_clear_error(env: Environment) -> None:
    out = subprocess.run(
        [str(BIN / "weavergen"), "runs", "--server", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1 and "cannot reach the WeaverGen server" in out.stderr


def test_show_takes_a_unique_id_prefix_and_lists_an_ambiguous_ones_runs(
    env: Environment,
) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [str(uuid.UUID(f"{tag}{i:04x}{0:020x}")) for i in range(3)]
    insert_runs(env, 3, entry=f"cli_{tag}", text=f"cli prefix {tag}", ids=ids)
    try:
        shown = cli(env, "show", ids[1][:13])  # "tag-0001", unique
        assert shown.returncode == 0, shown.stderr
        assert f"run {ids[1]}: completed" in shown.stdout
        assert f"cli prefix {tag} 2" in shown.stdout

        ambiguous = cli(env, "show", tag)
        said = " ".join(ambiguous.stderr.split())  # as wrapped for the terminal
        assert ambiguous.returncode != 0
        assert "HTTP 409" in said and f"prefix '{tag}' matches 3 runs" in said
        for i, run_id in enumerate(ids, 1):
            assert f"{run_id} 'cli prefix {tag} {i}'" in said

        none = cli(env, "show", f"{tag}ffff")
        said = " ".join(none.stderr.split())
        assert none.returncode != 0 and f"no run id starts with '{tag}ffff'" in said
        for odd in ("abc", "../../incidents"):
            short = cli(env, "show", odd)
            assert short.returncode == 2 and "first 4+ hex digits" in short.stderr
        assert "Traceback" not in none.stderr + short.stderr + ambiguous.stderr
    finally:
        delete_runs(env, f"cli_{tag}")


def test_runs_shows_full_ids_pages_and_filters(env: Environment) -> None:
    tag = uuid.uuid4().hex[:8]
    entry = f"cli_{tag}"
    runs = insert_runs(env, 5, entry=entry, text=f"cli list {tag}")
    ids = [str(r["id"]) for r in runs]
    try:
        table = cli(env, "runs", "--diagram", entry)
        assert table.returncode == 0, table.stderr
        assert all(i in table.stdout for i in ids)  # whole ids, not cut to fit
        assert "--cursor" not in table.stderr

        first = cli(env, "runs", "--diagram", entry, "--limit", "2", "--json")
        assert [r["id"] for r in json.loads(first.stdout)] == ids[:2]
        cursor = first.stderr.split("--cursor ")[1].split()[0]
        rest = cli(env, "runs", "--diagram", entry, "--limit", "2", "--cursor", cursor, "--json")
        assert [r["id"] for r in json.loads(rest.stdout)] == ids[2:4]

        every = cli(env, "runs", "--diagram", entry, "--limit", "2", "--all", "--json")
        assert [r["id"] for r in json.loads(every.stdout)] == ids and "--cursor" not in every.stderr
        failed = cli(env, "runs", "--diagram", entry, "--status", "failed", "--json")
        assert [r["id"] for r in json.loads(failed.stdout)] == [
            str(r["id"]) for r in runs if r["status"] == "failed"
        ]
        found = cli(env, "runs", "--q", f"LIST {tag} 3", "--id-prefix", ids[2][:6], "--json")
        assert [r["id"] for r in json.loads(found.stdout)] == [ids[2]]
        window = cli(
            env,
            "runs",
            "--diagram",
            entry,
            "--since",
            runs[3]["created_at"].isoformat(),
            "--until",
            runs[0]["created_at"].isoformat(),
            "--json",
        )
        assert [r["id"] for r in json.loads(window.stdout)] == ids[1:4]

        bad = cli(env, "runs", "--cursor", "not-a-cursor")
        assert bad.returncode == 1 and "cursor" in bad.stderr and "malformed" in bad.stderr
        when = cli(env, "runs", "--since", "yesterday")
        assert when.returncode == 2 and "--since 'yesterday' is not an ISO 8601 time" in when.stderr
    finally:
        delete_runs(env, entry)
