"""The dependency direction of DESIGN.md holds: adapters import no project package, validation
only adapters, engine never api or FastAPI, nothing but bench imports bench; the engine core
reaches operator code only through the composition roots; only engine/settings.py reads the
environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"engine", "adapters", "api", "validation", "standin", "bench"}
ALLOWED = {
    "adapters": set(),
    "validation": {"adapters"},
    "engine": {"adapters", "validation"},
    "api": {"engine", "adapters", "validation", "standin"},
    "standin": set(),
    "bench": {"engine", "adapters", "api", "validation", "standin"},
}
# the composition roots that register the operators; the rest of the engine never names them
OPERATOR_ROOTS = {"engine/container.py", "engine/startup.py"}
FORBIDDEN_LIBS = {
    "engine": {"fastapi", "starlette", "uvicorn", "vllm"},
    "adapters": {"vllm"},
    "validation": {"vllm"},
}


def modules(path: Path) -> set[str]:
    """The dotted names `path` imports (absolute imports only)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in modules(path)}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        used = imports(path)
        wrong = (used & PROJECT) - ALLOWED[package] - {package}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"
        libs = used & FORBIDDEN_LIBS.get(package, set())
        assert not libs, f"{path.relative_to(ROOT)} imports {sorted(libs)}"


def test_engine_core_does_not_import_operators() -> None:
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        where = path.relative_to(ROOT)
        if where.parts[1] in {"ops", "migrations"} or str(where) in OPERATOR_ROOTS:
            continue
        if any(name == "engine.ops" or name.startswith("engine.ops.") for name in modules(path)):
            offenders.append(str(where))
    assert offenders == [], "the engine core imports operator code (engine.ops)"


def test_only_settings_reads_environment_at_import() -> None:
    offenders = []
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in tree.body:  # module level only
                if "os.environ" in ast.unparse(node) and not isinstance(
                    node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                ):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
