"""`llm.consensus`: choose among candidate answers from several model groups.

Candidates come from a parallel multi-instance `llm.generate` (one per model group). They
are grouped by the similarity of their normalized code (engine/decisions/grouping.py). Each group's
representative runs the cheap validation stages (all at once); the quality prediction
(engine/decisions/quality_fit.py: the hand-set model of quality.py, or one fitted on earlier
candidates) turns their findings, the group's share of the votes, the model groups' history and
what memory recalled (`memory`, optional) into a probability of passing; the tests then run
representative by representative in that order until one passes, so unlikely candidates cost
nothing more.

The choice: a representative whose validation passed, first in prediction order; if none
passed, the best validation score, then the most votes, then the best prediction. Every
candidate, group, vote and the reason are kept as the decision's evidence.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from engine.decisions.grouping import Candidate, group_candidates
from engine.decisions.quality import signals_from_report
from engine.decisions.quality_features import features_of
from engine.decisions.quality_fit import current
from engine.errors import OperatorError
from engine.ops import OPERATORS
from engine.ops.files import artifact_ids, files_of
from engine.ops.validate import history, record_candidate, run_mesh, summarize, tests_ran
from engine.steps.contract import StepContext
from validation.mesh import TESTS, ValidationMesh, is_test_file
from validation.report import Finding, StageResult, ValidationReport


class ConsensusInput(BaseModel):
    """The candidates (results of `llm.generate`, in any order) and how alike is 'the same'."""

    candidates: list[dict[str, Any]] = Field(min_length=1, max_length=8)
    groups: list[str] = Field(
        default_factory=list, description="the model groups in their configured order"
    )
    threshold: float = Field(1.0, ge=0.5, le=1.0, description="similarity that joins a group")
    memory: dict[str, Any] | None = None  # memory.recall's result (None: nothing recalled)


@OPERATORS.register("llm.consensus", ConsensusInput, decision=True)
async def consensus(inputs: ConsensusInput, ctx: StepContext) -> dict[str, Any]:
    """Group, predict, validate in predicted order, choose; keep everything as evidence."""
    language = ctx.request.language
    mesh: ValidationMesh = ctx.services.validation
    # multi-instance results arrive in completion order: sort by the configured group order
    order = {g: i for i, g in enumerate(inputs.groups)}
    items = sorted(
        inputs.candidates,
        key=lambda c: (order.get(str(c.get("model_group")), len(order)), str(c.get("model_group"))),
    )
    cands = [
        Candidate(i, str(item.get("model_group", "")), await files_of(item, ctx))
        for i, item in enumerate(items)
    ]
    groups = group_candidates(language, cands, inputs.threshold)
    n = len(cands)
    reps = [cands[g.representative] for g in groups]
    known = {c.model_group: await history(ctx, c.model_group) for c in cands}

    cheap = await asyncio.gather(
        *(_checked(ctx, rep.files, only=mesh.cheap_stages(language)) for rep in reps)
    )
    quality = current().snapshot()
    features = [
        features_of(
            signals_from_report(
                report,
                agreement=len(g.members) / n,
                candidates=n,
                history=known[rep.model_group],
            ),
            inputs.memory,
            rep.files,
        )
        for g, rep, report in zip(groups, reps, cheap, strict=True)
    ]
    predictions = [quality.predict(f) for f in features]
    ranked = sorted(
        range(len(groups)), key=lambda k: (-predictions[k][0], -len(groups[k].members), k)
    )
    reports: list[ValidationReport] = list(cheap)
    chosen: int | None = None
    for k in ranked:
        if cheap[k].stages[0].status != "passed":
            continue  # the code does not even parse or build: its tests cannot run
        if not ctx.request.checks and not any(
            is_test_file(language, path) for path in reps[k].files
        ):
            continue  # nothing to test yet (e.g. standard writes its tests after this step)
        tests = await _checked(ctx, reps[k].files, only={TESTS})
        reports[k] = mesh.merge(language, [cheap[k], tests])
        if reports[k].passed:
            chosen = k
            break

    if chosen is not None:
        why = f"group {chosen + 1} ({_names(groups[chosen], cands)}) passed validation"
        beaten = [
            k for k in range(len(groups)) if len(groups[k].members) > len(groups[chosen].members)
        ]
        if beaten:
            why += f"; the larger group {beaten[0] + 1} had more votes but did not pass"
        elif sum(len(g.members) == len(groups[chosen].members) for g in groups) > 1:
            why += "; a tie on votes, settled by validation in order of predicted quality"
    else:
        chosen = max(
            range(len(groups)),
            key=lambda k: (reports[k].score, len(groups[k].members), predictions[k][0], -k),
        )
        why = (
            f"no candidate passed; group {chosen + 1} ({_names(groups[chosen], cands)}) "
            f"has the best score {reports[chosen].score:.2f}"
        )
    winner = items[groups[chosen].representative]
    summary = await summarize(ctx, reports[chosen], f"reports/{ctx.element_id}-{ctx.visit}.json")
    for k, g in enumerate(groups):
        for member in g.members:  # a member with other files did not have its own tests run
            if cands[member].files == reps[k].files:
                await record_candidate(
                    ctx,
                    cands[member].model_group,
                    predictions[k][0],
                    reports[k],
                    agreement=len(g.members) / n,
                    features=features[k],
                )
    evidence = {
        "reason": why,
        "candidates": [
            {
                "index": c.index,
                "model_group": c.model_group,
                "files": artifact_ids(items[c.index]),
                "group": next(k for k, g in enumerate(groups) if c.index in g.members),
            }
            for c in cands
        ],
        "groups": [
            {
                "members": g.members,
                "votes": len(g.members),
                "model_groups": [cands[m].model_group for m in g.members],
                "fingerprint": g.fingerprint,
                "predicted": predictions[k][0],
                "prediction_terms": predictions[k][1],
                "features": features[k],
                "tests_ran": tests_ran(reports[k]),
                "passed": reports[k].passed,
                "score": reports[k].score,
                "stages": {s.name: s.status for s in reports[k].stages},
            }
            for k, g in enumerate(groups)
        ],
        "validation_order": ranked,
        "history": {g: list(h) for g, h in known.items()},
        "prediction_model": quality.describe(),
    }
    files = artifact_ids(winner)
    return {
        "files": files,
        "answer": winner.get("answer"),
        "model_group": winner.get("model_group"),
        "choice": f"group {chosen + 1}",
        "confidence": predictions[chosen][0],
        "evidence": evidence,
        "validation": {"files": files, "summary": summary, "step": ctx.element_id},
    }


async def _checked(ctx: StepContext, files: dict[str, str], *, only: set[str]) -> ValidationReport:
    """The mesh on one candidate; a candidate the mesh refuses (e.g. a bad file name) fails
    its gate instead of failing the whole consensus."""
    try:
        return await run_mesh(ctx, files, only=only)
    except OperatorError as exc:
        if exc.retryable:
            raise
        mesh: ValidationMesh = ctx.services.validation
        names = [s.name for s in mesh.languages[ctx.request.language]]
        stages = [
            StageResult(
                name=names[0],
                status="failed",
                findings=[Finding(rule="candidate.refused", message=exc.message)],
            ),
            *(StageResult(name=n, status="skipped", detail="the gate failed") for n in names[1:]),
        ]
        return ValidationReport(
            language=ctx.request.language, passed=False, score=0.0, stages=stages
        )


def _names(group: Any, cands: list[Candidate]) -> str:
    return ", ".join(cands[m].model_group for m in group.members)
