"""Token counts for the recall budget.

Counted with the tokenizer LiteLLM knows for the model group's first deployment
(`litellm.token_counter`, which itself falls back to a generic tokenizer for models it does
not know) when LiteLLM is already loaded in this process; otherwise, and when counting fails,
estimated as one token per `CHARS_PER_TOKEN` characters, rounded up — about right for
English and code with BPE tokenizers, and on the safe side for the budget's purpose.
"""

from __future__ import annotations

import math
import sys

CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    """The documented estimate: ceil(len / CHARS_PER_TOKEN)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def count_tokens(text: str, model: str | None = None) -> tuple[int, str]:
    """(tokens, how they were counted: "tokenizer:<model>" or "estimate")."""
    litellm = sys.modules.get("litellm")
    if model and litellm is not None:
        try:
            return int(litellm.token_counter(model=model, text=text)), f"tokenizer:{model}"
        except Exception:  # noqa: BLE001 - an unknown model or tokenizer: estimate instead
            return estimate_tokens(text), "estimate"
    return estimate_tokens(text), "estimate"
