"""`llm.generate` and `llm.improve`: prompt a model group, keep the answer, extract the files."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.models import ModelAnswer, ModelCallError
from adapters.sandbox import bad_file_name
from engine.errors import OperatorError, RetryableOperatorError
from engine.learning.signatures import signatures
from engine.ops import OPERATORS
from engine.ops.codeblocks import extract_files
from engine.ops.doctests import with_doctests
from engine.ops.files import files_of
from engine.ops.missing_tests import with_answer_asserts, with_requested_tests
from engine.policies.router import route
from engine.steps.contract import StepContext

log = logging.getLogger(__name__)
Groups = Literal["auto"] | list[str] | None
Prefer = Literal["quality", "speed", "cost"] | None


TESTS_WITH_CODE = {"implement", "migrate"}
"""Templates whose prompt asks for tests beside the code: an answer without them (and a
request without acceptance checks) gets the answer's own asserts as tests, else is followed
by a request for tests alone."""


class Routed(BaseModel):
    """A model group, or a set of them the router chooses among (`groups`: "auto" or a
    list; `prefer`: what the choice weighs besides success, default the run's option)."""

    group: str = "coder"
    groups: Groups = Field(default=None, description='"auto" or a list of model groups')
    prefer: Prefer = Field(
        default=None, description="quality, speed or cost (the run's options.prefer wins)"
    )


class GenerateInput(Routed):
    """Template, model group(s), and any further named inputs for the template."""

    model_config = ConfigDict(extra="allow")
    template: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    memory: dict[str, Any] | None = None  # memory.recall's result, shown in the prompt


class ImproveInput(Routed):
    """The result to improve and the validation result that found its problems."""

    code: dict[str, Any]
    report: dict[str, Any]
    memory: dict[str, Any] | None = None  # memory.recall's result: fixes that helped before


async def ask(ctx: StepContext, group: str, messages: list[dict[str, str]]) -> ModelAnswer:
    """Call a model group, mapping failures to operator errors (retryable or not)."""
    try:
        answer = await ctx.services.models.complete(group, messages, user=str(ctx.run_id))
    except ModelCallError as exc:
        if exc.retryable:
            raise RetryableOperatorError(
                exc.message, code="model_unavailable", kind=exc.kind
            ) from exc
        raise OperatorError(exc.message, code="model_failed", kind=exc.kind) from exc
    ctx.usage.update(
        tokens_in=answer.tokens_in,
        tokens_out=answer.tokens_out,
        model_group=answer.model_group,
        deployment=answer.deployment,
        model_ms=answer.duration_ms,
    )
    return answer


async def keep(
    ctx: StepContext, messages: list[dict[str, str]], answer: ModelAnswer, files: dict[str, str]
) -> dict[str, Any]:
    """Store prompt, answer and files; return the small result that goes into task data."""
    prompt_id = await ctx.store.put_blob("prompt", messages[-1]["content"])
    answer_id = await ctx.store.put_blob("answer", answer.text)
    file_ids = {}
    for path, content in files.items():
        kind = "test" if "test" in path.rsplit("/", 1)[-1].lower() else "code"
        if path.lower().endswith((".md", ".txt", ".rst")):
            kind = "doc"
        file_ids[path] = await ctx.store.put_artifact(path, content, kind)
    result = {
        "prompt": prompt_id,
        "answer": answer_id,
        "files": file_ids,
        "model_group": answer.model_group,
        "deployment": answer.deployment,
        "tokens_in": answer.tokens_in,
        "tokens_out": answer.tokens_out,
    }
    if ctx.route is not None:  # validation tells the router how this choice did
        result["route"] = {**ctx.route, "model_ms": round(answer.duration_ms, 1)}
    return result


async def choose_group(
    ctx: StepContext, inputs: Routed, report: dict[str, Any] | None = None
) -> str:
    """The diagram's group, or the router's choice among `groups` (kept in `ctx.route`)."""
    policies = ctx.services.policies
    if inputs.groups is None or policies is None:
        return inputs.group
    prefer = ctx.request.options.prefer or inputs.prefer or "quality"
    sigs = signatures((report or {}).get("findings") or []) if report else None
    chosen = await route(
        policies, ctx, inputs.groups, named=inputs.group, prefer=prefer, signatures=sigs
    )
    ctx.route = {
        "group": chosen.group,
        "element": ctx.element_id,
        "task_id": str(ctx.task_id),
        "decision": chosen.decision_id,
        "explored": chosen.explored,
        "candidates": chosen.candidates,
    }
    return chosen.group


async def _template_inputs(extra: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(value.get("files"), dict):
            text = await ctx.store.get_blob(value["answer"]) if value.get("answer") else ""
            out[key] = {"files": await files_of(value, ctx), "text": _prose(text)}
        else:
            out[key] = value
    return out


def _prose(answer: str) -> str:
    """The answer without its code blocks (those are shown as files)."""
    parts = answer.split("```")
    return "\n".join(p.strip() for p in parts[::2] if p.strip())[:4000]


@OPERATORS.register("llm.generate", GenerateInput)
async def generate(inputs: GenerateInput, ctx: StepContext) -> dict[str, Any]:
    """Render a prompt template, ask the model group, keep the answer and its files."""
    language = ctx.request.language
    extra = await _template_inputs(dict(inputs.model_extra or {}), ctx)
    group = await choose_group(ctx, inputs)
    messages = ctx.services.prompts.messages(
        inputs.template,
        request=ctx.request,
        language=language,
        group=group,
        inputs=extra,
        memory=(inputs.memory or {}).get("summary", ""),
    )
    answer = await ask(ctx, group, messages)
    files = with_doctests(extract_files(answer.text, language), language, ctx.request.text)
    if inputs.template in TESTS_WITH_CODE and not ctx.request.checks:  # checks are tests
        files = with_answer_asserts(files, language)
        files = await with_requested_tests(
            files, language, lambda code: _tests_for(ctx, group, code)
        )
    return await keep(ctx, messages, answer, files)


async def _tests_for(ctx: StepContext, group: str, code: dict[str, str]) -> str:
    """The model's answer to "write tests for this code" ("" when the call fails: the tests
    stage then reports the missing tests); its tokens count with the step's."""
    before = dict(ctx.usage)
    messages = ctx.services.prompts.messages(
        "write_tests",
        request=ctx.request,
        language=ctx.request.language,
        group=group,
        inputs={"code": {"files": code, "text": ""}},
        memory="",
    )
    try:
        answer = await ask(ctx, group, messages)
    except OperatorError as exc:  # `ask` left the usage as it was
        log.warning("step %s: asking for tests failed: %s", ctx.element_id, exc)
        return ""
    ctx.usage.update(  # `ask` set the second answer's alone
        tokens_in=(before.get("tokens_in") or 0) + answer.tokens_in,
        tokens_out=(before.get("tokens_out") or 0) + answer.tokens_out,
        model_ms=(before.get("model_ms") or 0) + answer.duration_ms,
    )
    return answer.text


@OPERATORS.register("llm.improve", ImproveInput)
async def improve(inputs: ImproveInput, ctx: StepContext) -> dict[str, Any]:
    """Ask for a fixed version of the code, given the validation findings."""
    language = ctx.request.language
    current = await files_of(inputs.code, ctx)
    findings = inputs.report.get("findings") or []
    group = await choose_group(ctx, inputs, inputs.report)
    messages = ctx.services.prompts.messages(
        "improve",
        request=ctx.request,
        language=language,
        group=group,
        inputs={},
        files=current,
        findings=findings,
        report=inputs.report,
        iteration=ctx.visit,
        memory=(inputs.memory or {}).get("summary", ""),
    )
    answer = await ask(ctx, group, messages)
    new_files = extract_files(answer.text, language)
    result = await keep(ctx, messages, answer, new_files)
    # files the model did not return stay as they were, but for names no work dir can hold
    # (the validation reported them; the model was asked to fix them)
    kept = {p: a for p, a in inputs.code.get("files", {}).items() if bad_file_name(p) is None}
    result["files"] = {**kept, **result["files"]}
    return result
