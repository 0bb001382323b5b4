"""A real Neo4j 5.26 Community server for tests: the embedded launcher from tools/neo4j.

`Neo4jServer(home).start()` builds the launcher if needed (tools/neo4j/install.sh: Maven
Central, Java 17), starts it on a free loopback port with its database under `home`, and waits
for its ready line. `stop()` shuts it down cleanly (SIGTERM); `start()` again reuses the same
port and home, so data survives a restart. Bolt without TLS, authentication disabled.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.serving import free_port, tail

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "neo4j"
MAIN_CLASS = "dev.weavergen.Neo4jLauncher"


def build_launcher() -> str:
    """Build tools/neo4j (idempotent, quick when already built); returns the class path."""
    if shutil.which("java") is None or shutil.which("mvn") is None:
        raise RuntimeError("Neo4j for tests needs Java 17 and Maven (see tools/neo4j/install.sh)")
    done = subprocess.run(
        [str(TOOL / "install.sh")], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"tools/neo4j/install.sh failed:\n{done.stdout}\n{done.stderr}")
    return f"{TOOL / 'target' / 'classes'}:{TOOL / 'target' / 'lib' / '*'}"


class Neo4jServer:
    """One embedded Neo4j on 127.0.0.1; `uri` is bolt://127.0.0.1:PORT, `auth` is None."""

    user = "neo4j"
    password: str | None = None  # authentication is disabled
    auth = None

    def __init__(
        self,
        home: Path | None = None,
        port: int | None = None,
        *,
        heap: str = "512m",
        start_timeout: float = 60.0,
    ) -> None:
        self._own_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="wg-neo4j-"))
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.heap = heap
        self.start_timeout = start_timeout
        self.log = self.home / "launcher.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None  # how long the last start() took

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Neo4jServer:
        if self.running:
            return self
        classpath = build_launcher()
        began = time.monotonic()
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    "java",
                    f"-Xmx{self.heap}",
                    # quick start for a short-lived test server: one GC thread, the C1
                    # compiler only (about 3 s to ready on two busy cores instead of 4-7 s)
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-cp",
                    classpath,
                    MAIN_CLASS,
                    str(self.home / "neo4j"),
                    str(self.port),
                    "--exit-on-stdin-eof",  # the server ends with this process, even on a crash
                ],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
            )
        ready = f"NEO4J READY {self.uri}".encode()
        deadline = began + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Neo4j launcher exited with {self.proc.returncode}:\n{tail(self.log)}"
                )
            with self.log.open("rb") as f:
                f.seek(offset)
                if ready in f.read():
                    self.startup_s = time.monotonic() - began
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"Neo4j did not become ready on {self.uri} within {self.start_timeout:.0f} s:\n"
            f"{tail(self.log)}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Clean shutdown (SIGTERM runs the launcher's shutdown hook); kill if it hangs."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()

    def close(self) -> None:
        """Stop, and remove the home if this object created it."""
        self.stop()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Neo4jServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
