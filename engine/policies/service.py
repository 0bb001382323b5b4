"""`Policies`: what the learned policies need, built once per process by the composition root
(the run database's journal, the learning stores, the model router, the decision settings)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.policies.journal import Journal

if TYPE_CHECKING:
    from adapters.models import ModelRouter
    from engine.learning import Learning


@dataclass
class Policies:
    """The router's and the failure policy's dependencies and settings."""

    journal: Journal
    learning: Learning
    models: ModelRouter
    min_evidence: int = 5
    exploration: bool = True
    max_attempts: int = 3
    retry_base_seconds: float = 1.0
    rng: random.Random = field(default_factory=random.Random)  # exploration, not security
