"""Script files: loading errors, rule order, `replies` sequences, model filter, statuses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from standin.script import BUILTIN_DEFAULT, ScriptError, load_script, parse_script
from tests.standin.conftest import StartStandin
from tests.standin.helpers import chat_body, reply_text

SCRIPT = """
rules:
  - match: "TEMPLATE: implement.*add\\\\(a, b\\\\)"
    model: coder
    reply: |
      ```python
      # file: add.py
      def add(a, b):
          return a + b
      ```
  - match: "TEMPLATE: implement"
    reply: generic implementation
  - match: "review"
    model: reviewer
    replies: ["first review", "second review", "last review"]
  - match: "review"
    reply: not a reviewer
  - match: "explode"
    status: 500
  - match: "overloaded"
    status: 429
    reply: too many requests for the stand-in
default: nothing scripted
"""


@pytest.fixture
def script_file(tmp_path: Path) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(SCRIPT)
    return path


def test_load_script_reads_rules_in_order(script_file: Path) -> None:
    script = load_script(script_file)
    assert [rule.model for rule in script.rules] == ["coder", None, "reviewer", None, None, None]
    assert script.default == "nothing scripted"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - reply: x\n", ["rule 0", "match", "Field required"]),
        (
            "rules:\n  - match: a\n    reply: x\n  - match: '(unclosed'\n    reply: y\n",
            ["rule 1", "match", "invalid regex"],
        ),
        ("rules:\n  - match: a\n    reply: x\n    replies: [y]\n", ["rule 0", "not both"]),
        ("rules:\n  - match: a\n", ["rule 0", "needs `reply`, `replies` or `status`"]),
        ("rules:\n  - match: a\n    replys: [x]\n", ["rule 0", "replys", "Extra inputs"]),
        ("rules:\n  - match: a\n    replies: []\n", ["rule 0", "must not be empty"]),
        ("rules:\n  - match: a\n    status: 200\n", ["rule 0", "status"]),
        ("defualt: x\n", ["script", "defualt"]),
        ("- just a list\n", ["expected a mapping"]),
        ("rules: [\n", ["invalid YAML"]),
    ],
)
def test_bad_script_names_file_rule_and_problem(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScriptError) as info:
        load_script(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_missing_script_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ScriptError, match="cannot read script"):
        load_script(path)


def test_empty_script_uses_builtin_default() -> None:
    assert parse_script(None).rules == []
    assert "stand-in" in BUILTIN_DEFAULT


async def test_first_matching_rule_answers(start_standin: StartStandin, script_file: Path) -> None:
    server = start_standin(script_path=script_file)
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        specific = await client.post(
            "/chat/completions", json=chat_body("TEMPLATE: implement\nthe function add(a, b)")
        )
        assert "# file: add.py" in reply_text(specific)
        # the same prompt for another model skips the coder-only rule
        other = await client.post(
            "/chat/completions",
            json=chat_body("TEMPLATE: implement\nthe function add(a, b)", model="reviewer"),
        )
        assert reply_text(other) == "generic implementation"
        nothing = await client.post("/chat/completions", json=chat_body("hello"))
        assert reply_text(nothing) == "nothing scripted"


async def test_replies_advance_then_repeat_the_last(
    start_standin: StartStandin, script_file: Path
) -> None:
    server = start_standin(script_path=script_file)
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        answers = [
            reply_text(
                await client.post("/chat/completions", json=chat_body("please review", "reviewer"))
            )
            for _ in range(5)
        ]
    assert answers == ["first review", "second review", "last review", "last review", "last review"]


async def test_model_filter_accepts_provider_prefix(
    start_standin: StartStandin, script_file: Path
) -> None:
    server = start_standin(script_path=script_file)
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        prefixed = await client.post(
            "/chat/completions", json=chat_body("please review", "hosted_vllm/reviewer")
        )
        coder = await client.post("/chat/completions", json=chat_body("please review", "coder"))
    assert reply_text(prefixed) == "first review"
    assert reply_text(coder) == "not a reviewer"


async def test_status_rules_answer_http_errors(
    start_standin: StartStandin, script_file: Path
) -> None:
    server = start_standin(script_path=script_file)
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        exploded = await client.post("/v1/chat/completions", json=chat_body("explode now"))
        limited = await client.post("/v1/chat/completions", json=chat_body("overloaded?"))
        stats = (await client.get("/standin/stats")).json()
    assert exploded.status_code == 500
    assert exploded.json()["error"]["code"] == 500
    assert "rule 4" in exploded.json()["error"]["message"]
    assert limited.status_code == 429
    assert limited.json()["error"] == {
        "message": "too many requests for the stand-in",
        "type": "rate_limit_exceeded",
        "code": 429,
    }
    assert stats["failed"] == 2
    assert stats["scripted_failures"] == 2


async def test_in_process_script_object(start_standin: StartStandin) -> None:
    script = parse_script({"rules": [{"match": r"\bping\b", "reply": "pong"}]})
    server = start_standin(script=script)
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        pong = await client.post("/chat/completions", json=chat_body("ping"))
        default = await client.post("/chat/completions", json=chat_body("pingpong"))
    assert reply_text(pong) == "pong"
    assert reply_text(default) == BUILTIN_DEFAULT


async def test_rules_match_across_all_messages(start_standin: StartStandin) -> None:
    script = parse_script({"rules": [{"match": "SYSTEM RULES.*USER ASK", "reply": "joined"}]})
    server = start_standin(script=script)
    body = {
        "model": "coder",
        "messages": [
            {"role": "system", "content": "SYSTEM RULES"},
            {"role": "user", "content": [{"type": "text", "text": "USER ASK"}]},
        ],
    }
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        response = await client.post("/chat/completions", json=body)
    assert reply_text(response) == "joined"
