"""The stand-in seen through LiteLLM's hosted_vllm provider, as production sees vLLM."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from standin.protocol import count_tokens
from standin.script import parse_script
from tests.standin.conftest import StartStandin

REPLY = "```python\n# file: greet.py\ndef greet(name):\n    return f'hello {name}'\n```\n"
SCRIPT = parse_script(
    {
        "rules": [
            {"match": "greet", "model": "coder", "reply": REPLY},
            {"match": "verdict", "replies": ["approve", "reject"]},
        ]
    }
)
MESSAGES = [{"role": "user", "content": "write greet(name)"}]


def _litellm() -> Any:
    import litellm

    return litellm


async def test_completion_through_litellm(start_standin: StartStandin) -> None:
    litellm = _litellm()
    server = start_standin(script=SCRIPT)
    response = await litellm.acompletion(
        model="hosted_vllm/coder",
        api_base=server.api_base,
        api_key="none",
        messages=MESSAGES,
        timeout=10,
    )
    assert response.choices[0].message.content == REPLY
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens == count_tokens("write greet(name)")
    assert response.usage.completion_tokens == count_tokens(REPLY)


async def test_replies_sequence_through_litellm(start_standin: StartStandin) -> None:
    litellm = _litellm()
    server = start_standin(script=SCRIPT)
    answers = []
    for _ in range(3):
        response = await litellm.acompletion(
            model="hosted_vllm/reviewer",
            api_base=server.api_base,
            api_key="none",
            messages=[{"role": "user", "content": "give a verdict"}],
            timeout=10,
        )
        answers.append(response.choices[0].message.content)
    assert answers == ["approve", "reject", "reject"]


async def test_streaming_through_litellm(start_standin: StartStandin) -> None:
    litellm = _litellm()
    server = start_standin(script=SCRIPT)
    stream = await litellm.acompletion(
        model="hosted_vllm/coder",
        api_base=server.api_base,
        api_key="none",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        timeout=10,
    )
    parts: list[str] = []
    usage = None
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
        usage = getattr(chunk, "usage", None) or usage
    assert "".join(parts) == REPLY
    assert len(parts) > 3
    assert usage is not None
    assert usage.completion_tokens == count_tokens(REPLY)


async def test_injected_failure_raises_in_litellm_then_recovers(
    start_standin: StartStandin,
) -> None:
    litellm = _litellm()
    server = start_standin(script=SCRIPT, fail_rate=1.0)
    with pytest.raises(litellm.ServiceUnavailableError, match="injected failure"):
        await litellm.acompletion(
            model="hosted_vllm/coder",
            api_base=server.api_base,
            api_key="none",
            messages=MESSAGES,
            num_retries=0,
            timeout=10,
        )
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        await client.post("/standin/config", json={"fail_rate": 0.0})
    response = await litellm.acompletion(
        model="hosted_vllm/coder",
        api_base=server.api_base,
        api_key="none",
        messages=MESSAGES,
        num_retries=0,
        timeout=10,
    )
    assert response.choices[0].message.content == REPLY
