"""A memory set for the recall benchmark, derived from the 164 HumanEval problems (data only;
one module over 400 lines: the set's rules — problems, paraphrases, distractors — are read
together to judge the benchmark).

`build(n_memories, seed)` returns memories (`adapters.learning.memory.Memory`) and queries
with their relevant ids, the same for the same arguments:

- **Relevant memories** of problem P, all `language="python"`, `user=""`, project `""` or P's
  home project (so that they pass the query's hard filters):
  - one `fix` per broken variant of P (`standin.humaneval_mutations.broken_mutations`): text
    = P's request + " failing: " + a failure signature line naming the broken line; content
    = the diff line that repairs it;
  - one `solution`: text = the request, content = the signature line and the first line of
    the reference body;
  - more `solution`s from other runs of P (same text, other run ids and projects) until P
    has at least `MIN_RELEVANT` (5).
- **Queries**: 2-3 per problem, generated from the docstring by `paraphrase` (clauses
  reordered, words swapped from a small synonym table, an everyday opener, the function name
  dropped); `language="python"`, `project` = P's home project, `user=""`; relevant = all of
  P's memories.
- **Distractors** up to `n_memories`: variants of a source problem Q's memories with other
  run ids, users and projects, texts perturbed by the same paraphraser. Each is hard-filtered
  out of Q's own queries — another home project (the kind other problems' queries do see),
  a user, or javascript/go (the same text in another language: a store that ignores the
  language filter returns them for Q) — so no distractor that a query can see comes from the
  query's problem, and none is relevant to a query of another problem.

Request text is the docstring's description (up to the examples), as a user asks it:
"Implement NAME: DESCRIPTION".
"""

from __future__ import annotations

import ast
import difflib
import inspect
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from adapters.learning.memory import Memory
from standin.humaneval_mutations import broken_mutations
from standin.humaneval_problems import entry_function, load_problems, reference_solution

MIN_RELEVANT = 5
"""Relevant memories per problem at least."""
PROJECTS = ("acme-api", "billing", "webshop")
"""Home projects: each problem belongs to one; its queries ask within it."""
OTHER_LANGUAGES = ("javascript", "go")
USERS = tuple(f"user-{i}" for i in range(12))
PATTERNS = ("quick", "standard", "bug_fix")
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
PARAPHRASES = 64
"""Paraphrases per problem that distractor texts are drawn from."""

SYNONYMS: dict[str, tuple[str, ...]] = {
    "return": ("give back", "output", "produce"),
    "returns": ("gives back", "outputs", "produces"),
    "list": ("array", "sequence"),
    "lists": ("arrays", "sequences"),
    "string": ("text", "str"),
    "strings": ("texts", "strs"),
    "number": ("value", "numeric value"),
    "numbers": ("values", "numeric values"),
    "integer": ("whole number", "int"),
    "integers": ("whole numbers", "ints"),
    "given": ("provided", "supplied"),
    "check": ("determine", "test"),
    "find": ("compute", "work out"),
    "largest": ("biggest", "maximum"),
    "smallest": ("lowest", "minimum"),
    "sum": ("total",),
    "sort": ("order", "arrange"),
    "sorted": ("ordered", "arranged"),
    "element": ("item", "entry"),
    "elements": ("items", "entries"),
    "characters": ("chars", "letters"),
    "character": ("char", "letter"),
    "word": ("term",),
    "words": ("terms",),
    "empty": ("blank",),
    "length": ("size",),
    "remove": ("delete", "drop"),
    "write": ("create", "implement"),
    "function": ("routine", "helper"),
    "input": ("argument", "parameter"),
    "first": ("initial", "leading"),
    "last": ("final", "trailing"),
    "count": ("tally", "number"),
    "contains": ("includes", "has"),
    "positive": ("above zero",),
    "vowels": ("vowel letters",),
    "odd": ("uneven",),
    "returned": ("given back", "produced"),
}

OPENERS = (
    "I need a function that {x}",
    "Give me code that {x}",
    "Can you write code to {x}?",
    "Help me {x}",
    "Please implement this: {x}",
    "{x} How would I do that in Python?",
    "Write something that {x}",
    "Could you code this up: {x}",
)

_EXAMPLES = re.compile(r"^\s*(>>>|for examples?\b|examples?\b|e\.g\.|note\b)", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Problem:
    """What the set needs of one HumanEval problem."""

    task_id: str
    number: int
    entry_point: str
    description: str
    request: str
    signature: str
    first_line: str
    home: str
    fixes: tuple[tuple[str, str, str], ...]  # (mutation, failure signature line, fix)
    sentences: tuple[str, ...]  # the description without the function's name, split


@dataclass(frozen=True)
class BenchQuery:
    """A recall query: its text and hard filters, and the ids of the memories that answer it."""

    id: str
    task_id: str
    text: str
    language: str
    project: str
    user: str
    relevant: frozenset[str]


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def description(doc: str, entry_point: str) -> str:
    """The docstring's prose up to its examples (`>>>`, `Example:`, `NAME(…)` lines)."""
    lines: list[str] = []
    for line in doc.splitlines():
        if _EXAMPLES.match(line) or f"{entry_point}(" in line:
            break
        lines.append(line)
    text = _clean(" ".join(lines)) or _clean(doc)[:300] or f"Implement {entry_point}."
    words = text.split()
    if len(words) > 80:  # the long ones: keep the first sentences up to about 80 words
        kept: list[str] = []
        for sentence in _SENTENCE.split(text):
            if kept and len(" ".join(kept).split()) + len(sentence.split()) > 80:
                break
            kept.append(sentence)
        text = " ".join(kept)
    return text


def docstring(fn: ast.FunctionDef) -> str:
    """The function's docstring, or its first string statement (HumanEval/115 imports first)."""
    for node in fn.body:
        value = node.value if isinstance(node, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return inspect.cleandoc(value.value)
    return ""


def _changed_line(reference: str, broken: str) -> tuple[str, str]:
    """(the broken line, the reference line it replaced; "" when the mutation added it)."""
    old = [line.strip() for line in reference.splitlines()]
    new = [line.strip() for line in broken.splitlines()]
    for tag, i1, _i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "replace":
            return new[j1], old[i1]
        if tag == "insert" and any("_WrongAnswer()" in line for line in new[j1:j2]):
            return "return _WrongAnswer()", ""
    return "", ""


_FAILURES = {
    "return_none": "tests: AssertionError: {entry}() returned None",
    "flip_compare": "tests: AssertionError: {entry}() wrong result at `{line}`",
    "range_bound": "tests: AssertionError: {entry}() misses an element (off by one) at `{line}`",
    "shift_constant": "tests: AssertionError: {entry}() off by a constant at `{line}`",
    "swap_boolean": "tests: AssertionError: {entry}() wrong condition `{line}`",
    "wrong_type": "tests: TypeError: {entry}() returned _WrongAnswer, which has no truth value",
}


@lru_cache(maxsize=1)
def problems() -> tuple[Problem, ...]:
    """The 164 problems with their request, signature, first body line and fixes."""
    out: list[Problem] = []
    for task_id, problem in load_problems().items():
        number = int(task_id.split("/")[1])
        fn = entry_function(ast.parse(problem.prompt), problem.entry_point)
        text = description(docstring(fn), problem.entry_point)
        signature = _clean(problem.prompt.splitlines()[fn.lineno - 1])
        body = [line.strip() for line in problem.canonical_solution.splitlines()]
        first_line = next((line for line in body if line and not line.startswith("#")), "")
        reference = reference_solution(task_id)
        fixes: list[tuple[str, str, str]] = []
        for mutation in broken_mutations(task_id):
            broken, fixed = _changed_line(reference, mutation.code)
            failure = _FAILURES[mutation.name].format(entry=problem.entry_point, line=broken)
            repair = f"replace `{broken}` with `{fixed}`" if fixed else f"remove `{broken}`"
            fixes.append((mutation.name, failure, repair))
        out.append(
            Problem(
                task_id=task_id,
                number=number,
                entry_point=problem.entry_point,
                description=text,
                request=f"Implement {problem.entry_point}: {text}",
                signature=signature,
                first_line=first_line,
                home=PROJECTS[number % len(PROJECTS)],
                fixes=tuple(fixes),
                sentences=tuple(_SENTENCE.split(_nameless(text, problem.entry_point))),
            )
        )
    return tuple(sorted(out, key=lambda p: p.number))


def _nameless(text: str, name: str) -> str:
    """The text without the function's name where it reads as an identifier (`name(`, or a
    name with `_` or digits); plain-word names (`longest`, `add`) stay words."""
    if re.search(r"[_\d]", name):
        text = re.sub(rf"\b{re.escape(name)}\b(\(\))?", "", text)
    else:
        text = re.sub(rf"\b{re.escape(name)}\(\)", "", text)
    return _clean(text)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def paraphrase(problem: Problem, rng: random.Random, *, short: bool = False) -> str:
    """A generated paraphrase of the problem's description: the function name dropped,
    sentences reordered or cut, clauses swapped, words replaced from SYNONYMS, an everyday
    opener around it."""
    sentences = [s for s in problem.sentences if s]
    if short or (len(sentences) > 2 and rng.random() < 0.5):
        sentences = sentences[: rng.randint(1, 2)]
    elif len(sentences) > 1 and rng.random() < 0.6:
        rng.shuffle(sentences)
    out: list[str] = []
    for sentence in sentences:
        head, comma, tail = sentence.partition(", ")
        if comma and tail and rng.random() < 0.35:  # swap two clauses
            tail = tail.rstrip(".")
            sentence = f"{tail[:1].upper()}{tail[1:]}, {_lower_first(head)}."
        out.append(sentence)

    words = " ".join(out).split()
    for i, word in enumerate(words):
        core = word.strip(".,:;!?()'\"")
        choices = SYNONYMS.get(core.lower())
        if choices and rng.random() < 0.5:
            chosen = rng.choice(choices)
            if core[:1].isupper():
                chosen = chosen[:1].upper() + chosen[1:]
            words[i] = word.replace(core, chosen, 1)
    body = " ".join(words)
    return rng.choice(OPENERS).format(x=_lower_first(body))


def _memory(
    problem: Problem,
    memory_id: str,
    kind: str,
    text: str,
    content: str,
    rng: random.Random,
    *,
    project: str,
    language: str = "python",
    user: str = "",
    signature: str = "",
    run: str,
) -> Memory:
    return Memory(
        id=memory_id,
        kind=kind,  # type: ignore[arg-type]
        text=text,
        content=content,
        language=language,
        project=project,
        user=user,
        pattern="bug_fix" if kind == "fix" else rng.choice(PATTERNS),
        task_type="bug_fix" if kind == "fix" else "feature",
        model_group="coder",
        signature=signature,
        run_id=run,
        success=True,
        at=EPOCH + timedelta(minutes=rng.randrange(525_600)),
    )


def relevant_memories(problem: Problem, seed: int) -> list[Memory]:
    """Problem P's own memories: every fix, its solution and solutions of other runs."""
    rng = random.Random(f"{seed}:relevant:{problem.task_id}")
    tid = problem.task_id
    out: list[Memory] = []
    for index, (mutation, failure, repair) in enumerate(problem.fixes):
        out.append(
            _memory(
                problem,
                f"{tid}:fix:{mutation}",
                "fix",
                f"{problem.request} failing: {failure}",
                repair,
                rng,
                project=problem.home if index % 2 else "",
                signature=failure,
                run=f"run-{tid}-fix-{index}",
            )
        )
    solution = f"{problem.signature} {problem.first_line}"
    run = 0
    while run == 0 or len(out) < MIN_RELEVANT:
        out.append(
            _memory(
                problem,
                f"{tid}:solution:{run}",
                "solution",
                problem.request,
                solution,
                rng,
                project="" if run % 2 == 0 else problem.home,
                run=f"run-{tid}-solution-{run}",
            )
        )
        run += 1
    return out


def queries(problem: Problem, relevant: frozenset[str], seed: int) -> list[BenchQuery]:
    """2 or 3 generated paraphrases of the problem (distinct texts), relevant = its memories."""
    rng = random.Random(f"{seed}:queries:{problem.task_id}")
    wanted = 2 + rng.randrange(2)
    texts: list[str] = []
    for attempt in range(20):
        text = paraphrase(problem, rng, short=attempt == 0)
        if text not in texts:
            texts.append(text)
        if len(texts) == wanted:
            break
    return [
        BenchQuery(
            id=f"{problem.task_id}:q{i}",
            task_id=problem.task_id,
            text=text,
            language="python",
            project=problem.home,
            user="",
            relevant=relevant,
        )
        for i, text in enumerate(texts)
    ]


class Paraphrases:
    """`size` paraphrases of one problem for distractor texts, each made when first drawn."""

    def __init__(self, problem: Problem, seed: int, size: int = PARAPHRASES) -> None:
        self.problem = problem
        self.seed = seed
        self.size = size
        self.made: dict[int, str] = {}

    def draw(self, rng: random.Random) -> str:
        """One of the paraphrases, chosen by `rng`."""
        index = rng.randrange(self.size)
        text = self.made.get(index)
        if text is None:
            own = random.Random(f"{self.seed}:paraphrase:{self.problem.task_id}:{index}")
            text = self.made[index] = paraphrase(self.problem, own)
        return text


def distractor(source: Problem, number: int, rng: random.Random, texts: Paraphrases) -> Memory:
    """A variant of one of `source`'s memories that `source`'s own queries cannot see; its
    text one of `source`'s paraphrases or, one time in five, its request."""
    roll = rng.random()
    language, user = "python", ""
    others = [p for p in PROJECTS if p != source.home]
    if roll < 0.7:  # another home project: the distractors other problems' queries see
        project = rng.choice(others)
    elif roll < 0.85:  # another language, the same words: the language filter must hold
        language = rng.choice(OTHER_LANGUAGES)
        project = rng.choice(("", source.home, *others))
    else:  # somebody's own memory: the user filter must hold
        user = rng.choice(USERS)
        project = rng.choice(("", source.home))
    text = texts.draw(rng) if rng.random() < 0.8 else source.request
    run = f"run-d{number:06d}"
    if source.fixes and rng.random() < 0.5:
        mutation, failure, repair = rng.choice(source.fixes)
        return _memory(
            source,
            f"{source.task_id}:d{number}",
            "fix",
            f"{text} failing: {failure}",
            repair,
            rng,
            project=project,
            language=language,
            user=user,
            signature=failure,
            run=run,
        )
    return _memory(
        source,
        f"{source.task_id}:d{number}",
        "solution",
        text,
        f"{source.signature} {source.first_line}",
        rng,
        project=project,
        language=language,
        user=user,
        run=run,
    )


def visible(memory: Memory, query: BenchQuery) -> bool:
    """The hard filters of recall (adapters.learning.memory): whether `query` may see it."""
    return (
        memory.language in ("", query.language)
        and memory.project in ("", query.project)
        and memory.user in ("", query.user)
    )


def problem_of(memory_id: str) -> str:
    """The problem a memory id belongs to (`HumanEval/12:fix:…` → `HumanEval/12`)."""
    return memory_id.split(":", 1)[0]


def build(n_memories: int, seed: int) -> tuple[list[Memory], list[BenchQuery]]:
    """`n_memories` memories (relevant ones first, then distractors) and the queries."""
    memories: list[Memory] = []
    found: list[BenchQuery] = []
    for problem in problems():
        own = relevant_memories(problem, seed)
        memories += own
        found += queries(problem, frozenset(m.id for m in own), seed)
    if n_memories < len(memories):
        raise ValueError(f"n_memories={n_memories} is below the {len(memories)} relevant memories")
    rng = random.Random(f"{seed}:distractors")
    pool = problems()
    texts = {p.task_id: Paraphrases(p, seed) for p in pool}
    for number in range(n_memories - len(memories)):
        source = rng.choice(pool)
        memories.append(distractor(source, number, rng, texts[source.task_id]))
    return memories, found
