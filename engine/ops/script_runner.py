"""Runs one script task inside the sandbox (copied into the work dir, run by the
toolchain's Python): reads `input.json` ({script, data}), runs the script with the task
data as its variables, as SpiffWorkflow would, and writes `output.json`: {"data": …} with
the variables it leaves (functions, classes and modules dropped), or {"error": …} naming the
exception and the script's line. Only the standard library: the sandbox has nothing else."""

import json
import sys
import traceback
import types

SCRIPT = "<script>"


def _variables(context: dict[str, object]) -> tuple[dict[str, object], list[str]]:
    kept: dict[str, object] = {}
    refused: list[str] = []
    for name, value in context.items():
        if name == "__builtins__" or callable(value) or isinstance(value, types.ModuleType):
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            refused.append(f"{name} ({type(value).__name__})")
            continue
        kept[name] = value
    return kept, refused


def _error(kind: str, message: str, line: int | None) -> dict[str, object]:
    return {"error": {"type": kind, "message": message, "line": line}}


def main() -> None:
    with open("input.json", encoding="utf-8") as f:
        job = json.load(f)
    context: dict[str, object] = dict(job["data"])
    try:
        exec(compile(job["script"], SCRIPT, "exec"), context)  # noqa: S102 - in the sandbox
    except BaseException as exc:  # SystemExit and MemoryError are the script's too
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == SCRIPT]
        line = frames[-1].lineno if frames else getattr(exc, "lineno", None)
        out = _error(type(exc).__name__, str(exc)[:2000], line)
    else:
        data, refused = _variables(context)
        out = {"data": data}
        if refused:
            out = _error(
                "TypeError",
                "task data is JSON; these variables are not: "
                + ", ".join(refused)
                + " (convert them, e.g. str(x), or del them at the end of the script)",
                None,
            )
    sys.stdout.flush()
    with open("output.json", "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
