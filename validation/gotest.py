"""What `go test -json` reports: per-test results and output, read back into counts, located
findings (file and line of the failure, else of the test's declaration) and sandbox limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from adapters.sandbox_limits import LimitHit
from validation.report import Finding

_OUTPUT_POSITION = re.compile(r"^\s+(?P<file>[\w.\-]+\.go):(?P<line>\d+): ")
_TRACE = re.compile(r"^\s*/work/(?P<file>\S+\.go):(?P<line>\d+)(?:\s|$)")  # a panic's frames
_NOISE = re.compile(r"^(=== (RUN|PAUSE|CONT|NAME)|--- (FAIL|PASS|SKIP):)")
_LIMIT_MARKERS: list[tuple[str, LimitHit]] = [
    ("panic: test timed out after", "wall"),
    ("runtime: out of memory", "memory"),
    ("pthread_create failed", "processes"),
    ("failed to create new OS thread", "processes"),
    ("Resource temporarily unavailable", "processes"),
    ("signal: CPU time limit exceeded", "cpu"),
    # the sandbox reports its own kills (wall) and the cgroup's (memory); a process the go
    # command sees killed otherwise reached the hard CPU limit (Go ignores SIGXCPU)
    ("signal: killed", "cpu"),
]


def is_test_file(name: str) -> bool:
    """go test's rule: files named *_test.go."""
    return PurePosixPath(name).name.endswith("_test.go")


@dataclass
class GoTestRun:
    """What `go test -json` reported: results and output per (package, test)."""

    results: dict[tuple[str, str], str] = field(default_factory=dict)  # pass / fail / skip
    started: list[tuple[str, str]] = field(default_factory=list)
    output: dict[tuple[str, str], str] = field(default_factory=dict)
    text: str = ""  # all test output, as go test prints it without -json
    build_output: str = ""

    def counts(self) -> tuple[int, int]:
        """(passed, total) over the cases: leaf tests, plus parents that failed on their own."""
        cases = self._cases()
        return sum(1 for key in cases if self.results[key] == "pass"), len(cases)

    def failed(self) -> list[tuple[str, str]]:
        return [key for key in self._cases() if self.results[key] == "fail"]

    def unfinished(self) -> list[tuple[str, str]]:
        """Tests that started and never ended (innermost only)."""
        open_ = [key for key in self.started if key not in self.results]
        parents = {p for key in open_ for p in _parents(key)}
        return [key for key in open_ if key not in parents]

    def _cases(self) -> list[tuple[str, str]]:
        parents: set[tuple[str, str]] = set()
        failing_parents: set[tuple[str, str]] = set()
        for key, result in self.results.items():
            for parent in _parents(key):
                parents.add(parent)
                if result == "fail":
                    failing_parents.add(parent)
        return [
            key
            for key, result in self.results.items()
            if key not in parents or (result == "fail" and key not in failing_parents)
        ]


def _parents(key: tuple[str, str]) -> list[tuple[str, str]]:
    """("p", "TestA/x/y") -> [("p", "TestA"), ("p", "TestA/x")]."""
    parts = key[1].split("/")
    return [(key[0], "/".join(parts[:i])) for i in range(1, len(parts))]


def parse_test_events(stdout: str) -> GoTestRun:
    """Read the event stream of `go test -json` (lines that are not JSON are kept as text)."""
    run = GoTestRun()
    text: list[str] = []
    build: list[str] = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            text.append(line + "\n")
            continue
        if not isinstance(event, dict):
            continue
        action, output = event.get("Action"), event.get("Output") or ""
        if action == "build-output":
            build.append(output)
            continue
        package, test = event.get("Package") or "", event.get("Test")
        if action == "output":
            text.append(output)
        if not test:
            continue
        key = (package, test)
        if action == "run":
            run.started.append(key)
        elif action == "output":
            run.output[key] = run.output.get(key, "") + output
        elif action in ("pass", "fail", "skip"):
            run.results[key] = action
    run.text, run.build_output = "".join(text), "".join(build)
    return run


def finding_for_test(
    files: Mapping[str, str], rule: str, key: tuple[str, str], run: GoTestRun
) -> Finding:
    """A failing test (`tests.failed`) or one a limit stopped (`tests.limit`), located."""
    package, test = key
    output = run.output.get(key, "")
    file, line = _locate(files, package, test, output)
    message = (
        f"{test} was running when the sandbox stopped it"
        if rule == "tests.limit"
        else f"{test}: {_excerpt(output)}"
    )
    return Finding(file=file, line=line, rule=rule, message=message)


def _locate(
    files: Mapping[str, str], package: str, test: str, output: str
) -> tuple[str | None, int | None]:
    """File and line of a test: where its output says it failed, else its declaration."""
    for raw in output.splitlines():  # the deepest frame of a panic in the generated files
        frame = _TRACE.match(raw)
        if frame and frame["file"] in files:
            return frame["file"], int(frame["line"])
    top = test.split("/")[0]
    decl = re.compile(rf"^func\s+{re.escape(top)}\s*\(", re.MULTILINE)
    candidates = [n for n, src in files.items() if is_test_file(n) and decl.search(src)]
    if len(candidates) > 1:  # the same name in several packages: match the package's dir
        here = [n for n in candidates if _package_dir_matches(n, package)]
        candidates = here or candidates
    if not candidates:
        return None, None
    name = candidates[0]
    for raw in output.splitlines():  # t.Error and friends print "file.go:line: message"
        m = _OUTPUT_POSITION.match(raw)
        if m:
            sibling = str(PurePosixPath(name).parent / m["file"]).removeprefix("./")
            if sibling in files:
                return sibling, int(m["line"])
    match = decl.search(files[name])
    assert match is not None
    return name, files[name].count("\n", 0, match.start()) + 1


def _package_dir_matches(name: str, package: str) -> bool:
    parent = str(PurePosixPath(name).parent)
    return package.endswith("/" + parent) if parent != "." else "/" not in package


def limit_in(text: str) -> LimitHit | None:
    """The sandbox limit the go command's output says it hit, if any."""
    for marker, hit in _LIMIT_MARKERS:
        if marker in text:
            return hit
    return None


def _excerpt(output: str) -> str:
    """The test's own messages; for a panic, its message and the frames in generated files."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not _NOISE.match(ln)]
    panic = next((i for i, ln in enumerate(lines) if ln.startswith("panic: ")), None)
    if panic is not None:
        end = next((i for i in range(panic, len(lines)) if lines[i].startswith("goroutine ")), 0)
        frames = [f"at {m['file']}:{m['line']}" for ln in lines if (m := _TRACE.match(ln))]
        lines = lines[:panic] + lines[panic : end or panic + 1] + frames[:3]
    return " | ".join(lines[:8])[:400] or "failed"
