"""Which model server `weavergen serve` uses (api/model_server.py): models.yaml's servers when
one answers, the embedded CPU model otherwise; `weavergen models` in another terminal finds
the embedded one through the server's marker file."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from adapters.local_model import LocalModelError
from adapters.models import load_models_config, single_endpoint_config
from api.model_server import EMBEDDED_ENV, MARKER, answering, models_file_in_use, start_embedded
from bench.serving import free_port
from engine.settings import Settings
from tests.servers import Standin


def test_answering_lists_the_servers_that_answer(tmp_path: Path, standin: Standin) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    path = tmp_path / "models.yaml"
    path.write_text(single_endpoint_config(closed, ["coder"]))
    assert asyncio.run(answering(load_models_config(path))) == []
    path.write_text(single_endpoint_config(f"{standin.url}/v1", ["coder"]))
    assert asyncio.run(answering(load_models_config(path))) == [f"{standin.url}/v1"]


def test_a_models_file_the_user_set_is_used_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(single_endpoint_config(f"http://127.0.0.1:{free_port()}/v1", ["coder"]))
    settings = Settings(models_file=path, data_dir=tmp_path)  # nothing answers there
    assert asyncio.run(start_embedded(settings)) == (None, None)
    off = Settings(local_model="off", data_dir=tmp_path)
    assert asyncio.run(start_embedded(off)) == (None, None)


def test_on_without_a_model_fails_with_what_to_do(tmp_path: Path) -> None:
    settings = Settings(
        local_model="on", local_model_path=tmp_path / "missing.gguf", data_dir=tmp_path
    )
    with pytest.raises(LocalModelError, match="missing.gguf is not a file"):
        asyncio.run(start_embedded(settings))


def test_the_cli_uses_the_running_servers_embedded_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(EMBEDDED_ENV, raising=False)
    embedded = tmp_path / "models.embedded.yaml"
    marker = tmp_path / MARKER
    settings = Settings(data_dir=tmp_path)
    assert models_file_in_use(settings) == settings.models_file  # no marker
    info = {"url": "http://127.0.0.1:8010/v1", "models_file": str(embedded), "pid": os.getpid()}
    marker.write_text(json.dumps(info))
    assert models_file_in_use(settings) == embedded
    assert os.environ[EMBEDDED_ENV] == "http://127.0.0.1:8010/v1"
    marker.write_text(json.dumps({**info, "pid": 2**22 + 1}))  # the server is gone
    assert models_file_in_use(settings) == settings.models_file
    chosen = Settings(data_dir=tmp_path, models_file=tmp_path / "mine.yaml")
    assert models_file_in_use(chosen) == tmp_path / "mine.yaml"  # WEAVERGEN_MODELS wins
