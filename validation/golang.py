"""Go stages: build (gate), format (gofmt), vet (go vet), tests (go test -json).

Order and weights: `build` compiles every package and its tests (`go list -export -test`,
which type-checks and compiles without linking); it is the gate (weight 0: a failure scores
0) and comes first so a syntax error is reported once, by the compiler, with its line.
`format` (gofmt, 0.05, not blocking), `vet` (0.1, not blocking: likely bugs, like Python's
lint) and `tests` (0.6, blocking) follow; the weights sum to 0.75, so tests count for 80%.

Everything runs in the sandbox with no network: no module downloads (GOPROXY=off, only the
standard library), the toolchain from the machine (GOTOOLCHAIN=local), no user or workspace
configuration (GOENV=off, GOWORK=off), no cgo. Files without a go.mod get `module solution`.

Build cache: compiling the standard library takes ~9 s on 2 cores, so install.sh builds a
warm seed for the packages generated code usually imports and `wgcache`, a GOCACHEPROG that
reads that seed read-only and writes what a validation compiles to a directory in the
session's work dir (named after the work dir, which the generated files cannot know). Code
under test can therefore never change a cache another validation reads, and nothing is
copied per validation. Without the seed the stages still work, with a cold cache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from adapters.sandbox import JAIL_TMP, Limits, SandboxResult
from validation import stages
from validation.gotest import (
    GoTestRun,
    finding_for_test,
    is_test_file,
    limit_in,
    parse_test_events,
)
from validation.report import Finding, StageResult
from validation.stages import Language, Stage, StageContext, Timer
from validation.tokens import go_tokens

GO_MOD = "module solution\n\ngo 1.22\n"
# the go command runs the compiler, linker and vet as processes with many threads each, and
# Limits.processes counts threads; memory also sizes the jail's /tmp (the linker's output)
MIN_PROCESSES = 512
MIN_MEMORY_MB = 1024
MIN_TEST_OUTPUT = 1_000_000  # `go test -json` wraps every output line in a JSON event
VET_WARNINGS = {"unreachable", "composites"}  # style rather than bugs
# the environment of every Go command (install.sh builds the seed with the same settings:
# cache keys include GOROOT, CGO_ENABLED and the flags)
GO_ENV = {
    "HOME": f"{JAIL_TMP}/home",  # the jail's private tmpfs
    "GOPATH": f"{JAIL_TMP}/gopath",
    "GOCACHE": f"{JAIL_TMP}/gocache",  # with GOCACHEPROG only the fuzz cache
    "GOENV": "off",
    "GOFLAGS": "-mod=mod -buildvcs=false",
    "GOPROXY": "off",
    "GOSUMDB": "off",
    "GOTOOLCHAIN": "local",
    "GOTELEMETRY": "off",
    "GOWORK": "off",
    "CGO_ENABLED": "0",
}

_POSITION = re.compile(
    r"^(?:go: [^:\n]*: |vet: )?(?P<file>[^\s:]+\.(?:go|mod|sum|s)):(?P<line>\d+)(?::\d+)?: "
    r"(?P<msg>.+)$"
)
_POSN = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")
_HUNK = re.compile(r"^@@ -(?P<line>\d+)")


def is_go(files: Mapping[str, str]) -> bool:
    return any(name.endswith(".go") for name in files)


def go_limits(limits: Limits, *, output_bytes: int = 0) -> Limits:
    """The stage limits, raised to what the Go toolchain needs."""
    return limits.model_copy(
        update={
            "processes": max(limits.processes, MIN_PROCESSES),
            "memory_mb": max(limits.memory_mb, MIN_MEMORY_MB),
            "output_bytes": max(limits.output_bytes, output_bytes),
        }
    )


def go_env(ctx: StageContext) -> dict[str, str]:
    """Environment for the go command in the jail (see the module docstring)."""
    env = {**GO_ENV, "PATH": f"{ctx.toolchain.go_root}/bin:/usr/local/bin:/usr/bin:/bin"}
    cache = f"/work/.weavergen-go-{ctx.session.workdir.name[:16]}"
    helper = Path(ctx.toolchain.go_cache)
    if (helper / "wgcache").is_file() and (helper / "seed").is_dir():
        args = [str(helper / "wgcache"), "-r", str(helper / "seed"), "-w", cache]
        env["GOCACHEPROG"] = " ".join(f"'{a}'" for a in args)  # go splits it like a shell
    else:
        env["GOCACHE"] = cache
    return env


async def run_go(ctx: StageContext, argv: list[str], *, output_bytes: int = 0) -> SandboxResult:
    """Run a Go tool in the work dir, after giving the files a go.mod if they have none."""
    if not (ctx.session.workdir / "go.mod").exists():
        ctx.session.write({"go.mod": GO_MOD})
    limits = go_limits(ctx.limits, output_bytes=output_bytes)
    return await stages.sandboxed(ctx, argv, limits=limits, env=go_env(ctx))


async def build(ctx: StageContext) -> StageResult:
    """Compile every package and its tests (no linking); compile errors with file and line."""
    timer = Timer()
    res = await run_go(ctx, [ctx.toolchain.go, "list", "-export", "-test", "./..."])
    if res.limit_hit:
        return stages.limit_result("build", res, go_limits(ctx.limits), timer)
    findings = compile_findings(res.stderr)
    if res.exit_code != 0 and not findings:
        # errors without a position: go.mod problems, two packages in one directory, ...
        lines = [ln.strip() for ln in res.stderr.splitlines() if ln.strip()[:1] not in ("", "#")]
        if not lines or "bwrap:" in res.stderr:  # the tool itself did not run
            return stages.tool_error("build", res, timer)
        findings = [
            Finding(file="go.mod" if "go.mod" in ln else None, rule="go.build", message=ln[:500])
            for ln in list(dict.fromkeys(lines))[:10]
        ]
    return stages.result_from("build", findings, timer, detail=res.stderr[-3000:])


async def format_(ctx: StageContext) -> StageResult:
    """gofmt: one finding per file that is not formatted, at its first difference."""
    timer = Timer()
    names = sorted(n for n in ctx.files if n.endswith(".go"))
    paths = [f"./{n}" for n in names]  # a name never reads as a flag
    res = await run_go(ctx, [ctx.toolchain.gofmt, "-l", "-d", *paths])
    if res.limit_hit == "output":  # huge diffs: the list of files is enough
        res = await run_go(ctx, [ctx.toolchain.gofmt, "-l", *paths])
    if res.limit_hit:
        return stages.limit_result("format", res, go_limits(ctx.limits), timer)
    listed = [_rel(line) for line in res.stdout.splitlines() if line.endswith(".go")]
    first = _first_differences(res.stdout)
    findings = [
        Finding(
            file=name,
            line=first.get(name, (None, ""))[0],
            rule="gofmt",
            message="not gofmt-formatted" + (f": {first[name][1]}" if name in first else ""),
        )
        for name in dict.fromkeys(n for n in listed if n in ctx.files)
    ]
    # files gofmt cannot parse (only when the build stage did not run)
    findings += [f.model_copy(update={"rule": "go.syntax"}) for f in compile_findings(res.stderr)]
    if res.exit_code != 0 and not findings:
        return stages.tool_error("format", res, timer)
    return stages.result_from("format", findings, timer)


async def vet(ctx: StageContext) -> StageResult:
    """go vet over packages and tests; each diagnostic names its analyzer."""
    timer = Timer()
    res = await run_go(ctx, [ctx.toolchain.go, "vet", "-json", "./..."])
    if res.limit_hit:
        return stages.limit_result("vet", res, go_limits(ctx.limits), timer)
    findings = [*_vet_findings(res.stdout), *compile_findings(res.stderr)]
    if res.exit_code != 0 and not findings:
        return stages.tool_error("vet", res, timer)
    return stages.result_from("vet", findings, timer, detail=res.stderr[-2000:])


async def tests(ctx: StageContext) -> StageResult:
    """go test -json over every package; counts tests, one finding per failing test."""
    timer = Timer()
    if not any(is_test_file(n) for n in ctx.files):
        return stages.no_test_files(timer, "no test files (*_test.go) were generated")
    # go's own timeout comes before the sandbox's wall limit, so its report names the test
    timeout = max(1, int(ctx.limits.wall_seconds * 0.8))
    argv = [ctx.toolchain.go, "test", "-json", "-count=1", "-vet=off", f"-timeout={timeout}s"]
    res = await run_go(ctx, [*argv, "./..."], output_bytes=MIN_TEST_OUTPUT)
    run = parse_test_events(res.stdout)
    hit = res.limit_hit or (limit_in(run.text + res.stderr) if res.exit_code != 0 else None)
    if hit:
        result = _limit(ctx, res.model_copy(update={"limit_hit": hit}), run, timer)
        if not res.limit_hit and hit == "wall":  # go's own -timeout, not the sandbox's
            result.findings[0].message = (
                f"sandbox limit: the tests ran longer than {timeout} s (go test -timeout, "
                f"inside the {ctx.limits.wall_seconds:.0f} s wall-time limit)"
            )
        return result
    passed, total = run.counts()
    findings = [finding_for_test(ctx.files, "tests.failed", key, run) for key in run.failed()]
    findings += compile_findings(run.build_output)  # when the build stage did not run
    if res.exit_code != 0 and not findings:
        findings.append(
            Finding(rule="tests.error", message=stages.last_line(run.text + res.stderr, "go test"))
        )
    if res.exit_code == 0 and total == 0:
        findings.append(Finding(rule="tests.missing", message="no Test functions ran"))
    ok = res.exit_code == 0 and total > 0 and not findings
    return StageResult(
        name="tests",
        status="passed" if ok else "failed",
        findings=findings,
        duration_ms=timer.ms(),
        detail=(run.text or res.stderr)[-3000:],
        tests_passed=passed,
        tests_total=total,
    )


def _limit(ctx: StageContext, res: SandboxResult, run: GoTestRun, timer: Timer) -> StageResult:
    """A sandbox limit stopped the tests; name the tests that were running."""
    limits = go_limits(ctx.limits, output_bytes=MIN_TEST_OUTPUT)
    result = stages.limit_result("tests", res, limits, timer)
    result.findings += [
        finding_for_test(ctx.files, "tests.limit", key, run) for key in run.unfinished()
    ]
    result.detail = (run.text or res.stderr)[-3000:]
    result.tests_passed, result.tests_total = run.counts()
    return result


def compile_findings(text: str) -> list[Finding]:
    """Compiler / go command errors (`file:line:col: message`), each once."""
    findings: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    last: Finding | None = None
    for raw in text.splitlines():
        match = _POSITION.match(raw.strip())
        if match:
            file, line, msg = _rel(match["file"]), int(match["line"]), match["msg"].strip()
            last = None
            if (file, line, msg) in seen:
                continue
            seen.add((file, line, msg))
            rule = "go.syntax" if msg.startswith("syntax error") else "go.build"
            last = Finding(file=file, line=line, rule=rule, message=msg[:500])
            findings.append(last)
        elif last is not None and raw.startswith("\t") and len(last.message) < 500:
            last.message += " " + raw.strip()  # e.g. "have (number)" / "want ()"
        else:
            last = None
    return findings


def _vet_findings(stdout: str) -> list[Finding]:
    """`go vet -json` prints one JSON object per package: {pkg: {analyzer: [diagnostic]}}."""
    findings: list[Finding] = []
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(stdout) and stdout[pos] != "{":
            pos += 1
        if pos >= len(stdout):
            return findings
        try:
            packages, pos = decoder.raw_decode(stdout, pos)
        except ValueError:
            pos += 1
            continue
        for analyzers in packages.values() if isinstance(packages, dict) else ():
            for analyzer, items in analyzers.items() if isinstance(analyzers, dict) else ():
                if isinstance(items, dict):  # the analyzer itself failed
                    items = [{"message": str(items.get("error", items))}]
                for item in items if isinstance(items, list) else ():
                    where = _POSN.match(str(item.get("posn", "")))
                    findings.append(
                        Finding(
                            file=_rel(where["file"]) if where else None,
                            line=int(where["line"]) if where else None,
                            rule=f"vet.{analyzer}",
                            message=str(item.get("message", ""))[:500],
                            severity="warning" if analyzer in VET_WARNINGS else "error",
                        )
                    )


def _first_differences(diff: str) -> dict[str, tuple[int, str]]:
    """From `gofmt -d`: per file, the first line that changes and what it should be."""
    out: dict[str, tuple[int, str]] = {}
    file, line, removed = "", 0, None
    for raw in diff.splitlines():
        if raw.startswith(("diff ", "--- ")):
            continue
        if raw.startswith("+++ "):
            file, line, removed = _rel(raw[4:]), 0, None
        elif (hunk := _HUNK.match(raw)) is not None:
            line = int(hunk["line"])
        elif not file or file in out or line == 0:
            continue
        elif raw.startswith("-"):
            removed = raw[1:] if removed is None else removed
        elif raw.startswith("+"):
            was = f"{removed.strip()!r} should be " if removed is not None else "insert "
            out[file] = (line, f"line {line}: {was}{raw[1:].strip()!r}"[:300])
        elif removed is not None:
            out[file] = (line, f"line {line}: remove {removed.strip()!r}"[:300])
        else:
            line += 1
    return out


def _rel(path: str) -> str:
    return path.strip().removeprefix("/work/").removeprefix("./")


STAGES = [
    Stage("build", build, weight=0.0, blocking=True, gate=True, applies=is_go),
    Stage("format", format_, weight=0.05, applies=is_go),
    Stage("vet", vet, weight=0.1, applies=is_go),
    Stage("tests", tests, weight=0.6, blocking=True, applies=is_go),
]

LANGUAGE = Language(
    name="go",
    extensions=(".go",),
    stages=tuple(STAGES),
    is_test_file=is_test_file,
    block_extension="go",
    tokens=go_tokens,
)
