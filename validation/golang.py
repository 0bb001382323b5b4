"""golang stages (being written)."""

from __future__ import annotations

from validation.stages import Stage

STAGES: list[Stage] = []
