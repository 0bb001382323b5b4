"""`script.run`: a diagram's script task, run in the sandbox like generated code.

When an admin allows scripts (`WEAVERGEN_ALLOW_SCRIPTS=true`), a script task is full Python,
as SpiffWorkflow runs it, but never in the engine process: the worker copies the task data
in as JSON, runs the script jailed (no network, limits on CPU, memory, processes, output and
wall time) and the variables it leaves become the task data. An exception or a limit hit is
an `OperatorError`: the step's boundary error event catches it (`script_error`,
`script_limit`), else it becomes an incident a person can retry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from adapters.sandbox import SandboxUnavailable
from adapters.sandbox_limits import Limits, SandboxResult
from engine.diagrams.specs import SCRIPT_OPERATOR
from engine.errors import OperatorError, RetryableOperatorError
from engine.ops import OPERATORS
from engine.steps.contract import StepContext

RUNNER = Path(__file__).with_name("script_runner.py")
RUNNER_NAME = "_weavergen_script_runner.py"
PRINTED_CHARS = 4000  # of what the script printed, kept with the step's result
# what a script that reaches for the network meets (its jail has only its own loopback)
NO_NETWORK = (
    "Network is unreachable",
    "Temporary failure in name resolution",
    "gaierror",
    "ConnectionRefusedError",
)


class ScriptInput(BaseModel):
    """The script and a copy of the task data it runs over."""

    script: str
    data: dict[str, Any]


def limits_of(ctx: StepContext) -> Limits:
    """A script task's sandbox limits, from the operator settings."""
    cpu = ctx.services.settings.script_cpu_seconds
    return Limits(
        cpu_seconds=cpu,
        wall_seconds=cpu * 3,
        memory_mb=ctx.services.settings.script_memory_mb,
        processes=16,
        output_bytes=64_000,
        disk_mb=64,
    )


@OPERATORS.register(SCRIPT_OPERATOR, ScriptInput)
async def run_script(inp: ScriptInput, ctx: StepContext) -> dict[str, Any]:
    """Run a diagram's script task in the sandbox; its variables become the task data."""
    mesh = ctx.services.validation
    limits = limits_of(ctx)
    where = f"script task {ctx.element_id}"
    try:
        async with mesh.sandbox.session(disk_mb=limits.disk_mb) as session:
            session.write(
                {
                    RUNNER_NAME: RUNNER.read_text(),
                    "input.json": json.dumps({"script": inp.script, "data": inp.data}, default=str),
                }
            )
            done = await session.run([mesh.toolchain.python, "-I", RUNNER_NAME], limits=limits)
            output = session.workdir / "output.json"
            answer = json.loads(output.read_text()) if output.is_file() else None
    except SandboxUnavailable as exc:
        raise RetryableOperatorError(f"{where}: the sandbox is unavailable: {exc}") from None
    except (OSError, ValueError) as exc:  # output.json unreadable: the script broke it
        message = f"{where}: its output could not be read: {exc}"
        raise OperatorError(message, code="script_error") from None
    return _outcome(where, done, answer, limits)


def _outcome(
    where: str, done: SandboxResult, answer: dict[str, Any] | None, limits: Limits
) -> dict[str, Any]:
    printed = done.stdout[-PRINTED_CHARS:]
    error = (answer or {}).get("error")
    if done.limit_hit or (error and error["type"] == "MemoryError"):
        if not done.limit_hit:
            done = done.model_copy(update={"limit_hit": "memory"})
        hit = done.describe_limit(limits).replace("the code", "the script")
        raise OperatorError(f"{where} stopped: {hit}", code="script_limit")
    if error:
        at = f" line {error['line']}" if error.get("line") else ""
        hint = (
            " (scripts run without network)"
            if any(s in error["message"] or s == error["type"] for s in NO_NETWORK)
            else ""
        )
        raise OperatorError(
            f"{where}{at}: {error['type']}: {error['message']}{hint}", code="script_error"
        )
    if answer is None or "data" not in answer:
        tail = (done.stderr or done.stdout)[-1000:].strip()
        raise OperatorError(
            f"{where}: the script ended without its data (exit {done.exit_code}): {tail}",
            code="script_error",
        )
    return {"data": answer["data"], "printed": printed}
