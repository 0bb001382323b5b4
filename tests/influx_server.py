"""A real InfluxDB 1.x (`influxd` from Debian's `influxdb` package, tools/influxdb/install.sh)
for the tests: loopback only, every directory and listener under one root, restartable on the
same port and data (tests stop it mid-way to check that the learning store buffers and
delivers later).

    server = InfluxServer(Path(tempfile.mkdtemp()))
    server.start()            # waits for GET /ping -> 204; raises with the log tail otherwise
    server.url                # http://127.0.0.1:<port>
    server.stop(); server.start()   # same port, same data
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.serving import free_port, tail

INSTALL_HINT = "influxd not found: run tools/influxdb/install.sh (Debian's influxdb package)"


def _config(root: Path, http_port: int, rpc_port: int) -> str:
    # Everything not listed keeps influxd's defaults; graphite, collectd, opentsdb and udp are
    # disabled by default. The monitor's _internal database and continuous queries are off
    # (nothing needs them, and they write in the background).
    return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root / "meta"}"
  logging-enabled = false

[data]
  dir = "{root / "data"}"
  wal-dir = "{root / "wal"}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false
  unix-socket-enabled = false

[ifql]
  enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""


class InfluxServer:
    """One `influxd` process; `root` holds its config, data, meta, wal and log."""

    def __init__(self, root: Path | None = None, *, binary: str | None = None) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="wg-influx-"))
        self.root.mkdir(parents=True, exist_ok=True)
        found = binary or shutil.which("influxd")
        if found is None:
            raise RuntimeError(INSTALL_HINT)
        self.binary = found
        self.port = free_port()
        self.rpc_port = free_port()
        while self.rpc_port == self.port:
            self.rpc_port = free_port()
        self.config = self.root / "influxdb.conf"
        self.config.write_text(_config(self.root, self.port, self.rpc_port))
        self.log = self.root / "influxd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None  # how long the last start() took

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> InfluxServer:
        """Start influxd and wait until `/ping` answers 204. Idempotent while running."""
        if self.running:
            return self
        began = time.monotonic()
        # INFLUXDB_* variables would override the config file: start from a clean slate
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        with self.log.open("ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [self.binary, "run", "-config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.root,
                start_new_session=True,  # a Ctrl-C in the test run does not hit it first
            )
        deadline = began + timeout
        with httpx.Client(timeout=1.0) as client:
            while True:
                code = self.proc.poll()
                if code is not None:
                    self.proc = None
                    raise RuntimeError(
                        f"influxd exited with {code} while starting:\n{tail(self.log)}"
                    )
                try:
                    if client.get(f"{self.url}/ping").status_code == 204:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"influxd did not answer {self.url}/ping within {timeout:.0f} s:\n"
                        f"{tail(self.log)}"
                    )
                time.sleep(0.01)
        self.startup_s = time.monotonic() - began
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop influxd (SIGTERM, then SIGKILL after `timeout`); data stays for a restart."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> InfluxServer:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and remove its root directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> InfluxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
