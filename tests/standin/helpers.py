"""Helpers shared by the stand-in model tests."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx


def chat_body(content: str, model: str = "coder", **extra: Any) -> dict[str, Any]:
    """Return a minimal chat-completions request body."""
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def reply_text(response: httpx.Response) -> str:
    """Return the first choice's content of a chat completion response."""
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert isinstance(content, str)
    return content


def sse_events(body: str) -> list[Any]:
    """Parse an SSE body into decoded `data:` payloads ("[DONE]" stays a string)."""
    events: list[Any] = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        payload = block.removeprefix("data: ")
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


_FILE_BLOCK = re.compile(r"```python\n# file: (\S+)\n(.*?)```", re.DOTALL)


def solution_file(markdown: str) -> tuple[str, str]:
    """Return (file name, code) of the first `# file:` python block of a reply."""
    found = _FILE_BLOCK.search(markdown)
    assert found is not None, markdown
    return found.group(1), found.group(2)
