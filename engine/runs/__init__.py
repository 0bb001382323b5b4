"""Runs: the request model, the command service, the transaction kernel, stored state, and
the read models the API and CLI show."""

from engine.runs.prepared import ParamError, PreparedStep, StepInfo
from engine.runs.requests import Language, RunDefaults, RunOptions, RunRequest, RunStatus
from engine.runs.service import RunService

__all__ = [
    "Language",
    "ParamError",
    "PreparedStep",
    "RunDefaults",
    "RunOptions",
    "RunRequest",
    "RunService",
    "RunStatus",
    "StepInfo",
]
