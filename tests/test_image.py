"""The production image and stack, checked as far as this machine can: docker-compose.yml is
valid for Debian's docker-compose, every image is pinned, services have health checks with
start periods, the sandbox gets CAP_SYS_ADMIN and nothing more, the Dockerfile installs
the sandbox with the script `make install` runs (validation/toolchain/install.sh, which this
suite's sandbox tests use), and .env never reaches the image."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_is_valid(tmp_path: Path) -> None:
    compose = shutil.which("docker-compose")
    assert compose is not None, "docker-compose missing: run `make servers`"
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    done = subprocess.run(
        [compose, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_stack_is_pinned_healthy_and_least_privileged() -> None:
    stack = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = stack["services"]
    for name, service in services.items():
        image = service.get("image")
        if image is not None:
            assert re.search(r":v?\d+\.\d+", image) and "latest" not in image, (name, image)
    for name in ("app", "postgres", "vllm"):
        assert "start_period" in services[name]["healthcheck"], name
    for name in ("app", "worker"):
        assert services[name]["cap_add"] == ["SYS_ADMIN"], name
        assert not services[name].get("privileged"), name


def test_image_installs_the_sandbox_like_make_install() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "validation/toolchain/install.sh /opt/weavergen/toolchain" in dockerfile
    assert "bubblewrap" in dockerfile and "HEALTHCHECK" in dockerfile
    assert re.findall(r"^FROM \S+:\d", dockerfile, re.M), "base images pinned by version"
    makefile = (ROOT / "Makefile").read_text()
    assert "validation/toolchain/install.sh" in makefile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored
