"""`weavergen models`: lists models.yaml's groups and deployments and probes each one, against
the session's stand-in model and a port where nothing listens (run in-process)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from adapters.models import single_endpoint_config
from api.cli import app
from bench.serving import free_port
from tests.servers import Standin


@pytest.fixture()
def models_file(tmp_path: Path, standin: Standin) -> tuple[Path, str]:
    """Groups coder, reviewer and embedder at the stand-in, coder-b at a closed port; and
    that port's URL."""
    groups = ["reviewer", "coder", "embedder"]
    config = yaml.safe_load(single_endpoint_config(f"{standin.url}/v1", groups))
    closed = f"http://127.0.0.1:{free_port()}/v1"  # bound and closed again: nothing listens
    config["groups"]["coder"]["fallbacks"] = ["reviewer"]
    config["groups"]["coder-b"] = {
        "deployments": [
            {"id": "coder-b-local-1", "model": "hosted_vllm/coder-b", "api_base": closed}
        ],
        "fallbacks": ["coder"],
    }
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, closed


def models(path: Path, *args: str, embedded: str | None = None) -> Result:
    env = {"WEAVERGEN_MODELS": str(path), "WEAVERGEN_EMBEDDED_MODEL_URL": embedded}
    return CliRunner().invoke(app, ["models", *args], env=env)


def row(output: str, deployment: str) -> str:
    """The last table line of `deployment` (the probe table's, when probed)."""
    lines = [line for line in output.splitlines()[:-1] if f" {deployment} " in line]
    assert lines, f"{deployment} missing from:\n{output}"
    return " ".join(lines[-1].split())


def test_probes_each_deployment_and_exits_1_when_one_does_not_answer(
    models_file: tuple[Path, str],
) -> None:
    path, closed = models_file
    out = models(path, "--timeout", "5")
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output
    for deployment in ("coder-standin-1", "reviewer-standin-1", "embedder-standin-1"):
        line = row(out.stdout, deployment)
        assert "yes" in line and "stand-in (not a real model)" in line, line
        assert "owned by weavergen-standin" in line
        assert re.search(r"\d+ ms", line), line
        assert "embedded" not in line
    closed_line = row(out.stdout, "coder-b-local-1")
    assert "no: connection refused" in closed_line and "stand-in" not in closed_line
    # groups sorted, with their fallbacks
    config = [line.split() for line in out.stdout.splitlines() if "hosted_vllm/" in line]
    assert [c[0] for c in config] == ["coder", "coder-b", "embedder", "reviewer"]
    assert config[0][-1] == "reviewer" and config[1][-1] == "coder"
    summary = out.stdout.strip().splitlines()[-1]
    assert summary == f"3 of 4 deployments answer; coder-b-local-1 at {closed}: connection refused"


def test_no_probe_lists_without_probing_and_names_the_embedded_one(
    models_file: tuple[Path, str],
) -> None:
    path, closed = models_file
    out = models(path, "--no-probe", embedded=closed)
    assert out.exit_code == 0, out.output
    for deployment in ("coder-standin-1", "reviewer-standin-1", "coder-b-local-1"):
        assert deployment in out.stdout
    assert "embedder-standin-1" in out.stdout
    assert "embedded (local CPU model)" in row(out.stdout, "coder-b-local-1")
    assert "embedded" not in row(out.stdout, "coder-standin-1")
    assert (
        "refused" not in out.stdout and " ms" not in out.stdout and "stand-in (" not in out.stdout
    )
    assert out.stdout.strip().splitlines()[-1] == "4 deployments in 4 model groups (not probed)"


def test_json_output(models_file: tuple[Path, str], standin: Standin) -> None:
    path, closed = models_file
    out = models(path, "--json", embedded=f"{standin.url}/v1/")
    assert out.exit_code == 1
    body = json.loads(out.stdout)
    assert body["models_file"] == str(path) and body["probed"] is True
    assert (body["total"], body["answering"]) == (4, 3)
    found = {d["id"]: d for d in body["deployments"]}
    assert [d["group"] for d in body["deployments"]] == ["coder", "coder-b", "embedder", "reviewer"]
    coder = found["coder-standin-1"]
    assert coder["answered"] and coder["reachable"] and coder["standin"] and coder["embedded"]
    assert coder["latency_ms"] > 0 and coder["owned_by"] == ["weavergen-standin"]
    assert "coder" in coder["served"] and coder["fallbacks"] == ["reviewer"]
    assert coder["labels"] == ["stand-in (not a real model)", "embedded (local CPU model)"]
    assert coder["probe"] == "chat"
    embedder = found["embedder-standin-1"]  # asked for an embedding, not a completion
    assert embedder["probe"] == "embeddings" and embedder["answered"] and embedder["latency_ms"] > 0
    dead = found["coder-b-local-1"]
    assert not dead["answered"] and not dead["reachable"] and dead["latency_ms"] is None
    assert dead["error"] == "connection refused" and dead["labels"] == []
    assert body["summary"].endswith(f"coder-b-local-1 at {closed}: connection refused")

    listed = json.loads(models(path, "--json", "--no-probe").stdout)
    assert listed["probed"] is False and listed["answering"] is None
    assert all(not d["probed"] and d["latency_ms"] is None for d in listed["deployments"])


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("groups: [unclosed", "not valid YAML"),
        ("groups:\n  coder:\n    deployments: []\n", "groups.coder.deployments"),
        (
            "groups:\n  coder:\n    deployments: [{id: a, model: m, api_base: http://x}]\n"
            "    fallbacks: [nowhere]\n",
            "unknown group 'nowhere'",
        ),
    ],
)
def test_bad_models_file_is_a_clear_error(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text)
    out = models(path)
    assert out.exit_code == 2
    message = " ".join(out.stderr.split())  # as wrapped for the terminal
    assert message.startswith("error:") and str(path) in message and said in message, message
    assert "Traceback" not in out.output and out.stdout == ""


def test_missing_models_file_is_a_clear_error(tmp_path: Path) -> None:
    out = models(tmp_path / "nowhere.yaml", "--no-probe")
    assert out.exit_code == 2
    assert "nowhere.yaml: file not found" in " ".join(out.stderr.split())


def test_a_server_that_never_answers_is_a_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        path = tmp_path / "models.yaml"
        path.write_text(single_endpoint_config(base, ["coder"]))
        out = models(path, "--timeout", "0.5")
    assert out.exit_code == 1, out.output
    assert "no: timeout (no answer in 0.5 s)" in row(out.stdout, "coder-standin-1")
    assert out.stdout.strip().splitlines()[-1] == (
        f"0 of 1 deployments answer; coder-standin-1 at {base}: timeout (no answer in 0.5 s)"
    )
