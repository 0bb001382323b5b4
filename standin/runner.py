"""Run the stand-in server in a background thread (for tests of any part of WeaverGen)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from standin.options import StandinOptions
from standin.server import base_url, bind_socket, build_app


class StandinThread:
    """A real stand-in server on a loopback port, served by uvicorn in a daemon thread."""

    def __init__(self, options: StandinOptions | None = None) -> None:
        self.options = (options or StandinOptions()).model_copy()
        if options is None or "port" not in options.model_fields_set:
            self.options.port = 0
        self.app = build_app(self.options)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    @property
    def api_base(self) -> str:
        """Return the OpenAI base URL (`http://HOST:PORT/v1`) to give LiteLLM."""
        return f"{self.base_url}/v1"

    def start(self, timeout_s: float = 10.0) -> StandinThread:
        """Bind the socket, start serving and wait until the server accepts requests."""
        sock = bind_socket(self.options.host, self.options.port)
        self.base_url = base_url(sock)
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, timeout_graceful_shutdown=2
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="standin-server", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("stand-in model server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> StandinThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
