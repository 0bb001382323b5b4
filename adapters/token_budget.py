"""Token budgets for models with a small context window (models.yaml `context_length`).

The prompt's size is estimated, not counted: servers tokenize differently and a tokenizer per
deployment is more than this needs. Three characters a token overestimates English and code
for the tokenizers in use (SmolLM2's, Llama's, Qwen's average 3.5 to 4.5), so an estimate
that fits leaves the answer the room it was promised.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 3
MESSAGE_OVERHEAD = 8  # role markers and separators of a chat template, per message
MIN_ANSWER = 256  # tokens an answer keeps however long the prompt is


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """An upper estimate of the prompt's tokens."""
    return sum(len(m.get("content") or "") // CHARS_PER_TOKEN + MESSAGE_OVERHEAD for m in messages)


def fit(
    messages: list[dict[str, str]], context_length: int, max_tokens: int | None
) -> tuple[list[dict[str, str]], int]:
    """(messages, max_tokens) that fit `context_length`: the answer gets what the prompt leaves
    (at most `max_tokens`); a prompt that leaves less than MIN_ANSWER loses the middle of its
    longest message, marked where it was cut, so the request and the instructions at either
    end stay."""
    room = context_length - estimate_tokens(messages)
    if room < MIN_ANSWER:
        messages = [dict(m) for m in messages]
        longest = max(messages, key=lambda m: len(m.get("content") or ""))
        text = longest.get("content") or ""
        cut = min(len(text), (MIN_ANSWER - room) * CHARS_PER_TOKEN + 200)
        keep = len(text) - cut
        head, tail = text[: keep // 2], text[len(text) - (keep - keep // 2) :]
        longest["content"] = (
            f"{head}\n[… {cut} characters cut to fit the model's context of "
            f"{context_length} tokens …]\n{tail}"
        )
        room = context_length - estimate_tokens(messages)
    answer = max(min(room, max_tokens or room), 1)
    return messages, answer
