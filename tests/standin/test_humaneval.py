"""HumanEval replay: references pass, broken variants fail, draws follow the accuracy."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx

from standin.humaneval import HumanEvalReplay, find_task
from standin.humaneval_mutations import all_mutations, broken_variants
from standin.humaneval_problems import check_solution, load_problems, reference_solution
from tests.standin.conftest import StartStandin
from tests.standin.helpers import chat_body, reply_text, solution_file

SAMPLE = sorted(random.Random(20).sample(sorted(load_problems()), 20))
"""A fixed sample of 20 problems; `python -m standin.humaneval --verify` checks all 164."""


def test_problems_load() -> None:
    problems = load_problems()
    assert len(problems) == 164
    assert problems["HumanEval/0"].entry_point == "has_close_elements"
    assert reference_solution("HumanEval/0").startswith("from typing import List")


def test_sample_references_pass_and_broken_variants_fail() -> None:
    jobs = [(task_id, reference_solution(task_id), True) for task_id in SAMPLE]
    for task_id in SAMPLE:
        variants = broken_variants(task_id)
        assert variants, task_id
        assert reference_solution(task_id) not in variants
        jobs.extend((task_id, code, False) for code in variants)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: check_solution(job[0], job[1]), jobs))
    wrong = [
        f"{task_id} {'reference' if should_pass else 'variant'}: {result.detail}"
        for (task_id, _, should_pass), result in zip(jobs, results, strict=True)
        if result.passed != should_pass or result.timed_out
    ]
    assert wrong == []
    assert len(jobs) > 2 * len(SAMPLE)


def test_variants_are_deterministic_small_edits() -> None:
    for task_id in SAMPLE[:5]:
        assert broken_variants(task_id) == broken_variants(task_id)
        reference_lines = reference_solution(task_id).splitlines()
        for mutation in all_mutations(task_id):
            if mutation.name == "wrong_type":
                continue
            changed = set(mutation.code.splitlines()) - set(reference_lines)
            assert 1 <= len(changed) <= 2, (task_id, mutation.name)


def test_wrong_type_fallback_always_fails() -> None:
    for task_id in SAMPLE[:4]:
        fallback = [m for m in all_mutations(task_id) if m.name == "wrong_type"]
        assert len(fallback) == 1
        assert not check_solution(task_id, fallback[0].code).passed


def test_find_task_by_signature_docstring_or_id() -> None:
    problem = load_problems()["HumanEval/12"]
    reindented = problem.prompt.replace("    ", "  ")
    assert find_task(f"TEMPLATE: implement\n{reindented}\nReturn one file.") == "HumanEval/12"
    assert find_task("Solve task HumanEval/99 please") == "HumanEval/99"
    assert find_task("HumanEval/999 does not exist") is None
    assert find_task("def longest(strings):\n    pass") is None
    assert find_task("write a fizzbuzz") is None


def test_accuracy_statistics_over_many_draws() -> None:
    replay = HumanEvalReplay(accuracy=0.7, model_accuracy={"reviewer": 0.3}, seed=1)
    tasks = sorted(load_problems())
    for model, expected in (("coder", 0.7), ("hosted_vllm/reviewer", 0.3)):
        draws = [replay.choose(model, task, f"n:{i}") for task in tasks for i in range(12)]
        rate = sum(d.correct for d in draws) / len(draws)
        assert abs(rate - expected) < 0.04, (model, rate)
        broken = [d for d in draws if not d.correct]
        assert {d.mutation for d in broken} >= {"return_none", "flip_compare"}


def test_draws_are_reproducible_and_independent_per_model() -> None:
    first = HumanEvalReplay(accuracy=0.5, seed=3)
    second = HumanEvalReplay(accuracy=0.5, seed=3)
    prompt = load_problems()["HumanEval/5"].prompt
    coder = [first.answer("coder", prompt) for _ in range(40)]
    again = [second.answer("coder", prompt) for _ in range(40)]
    reviewer = [first.answer("reviewer", prompt) for _ in range(40)]
    assert all(a is not None for a in coder + again + reviewer)
    assert [a.content for a in coder if a] == [a.content for a in again if a]
    assert [a.correct for a in coder if a] != [a.correct for a in reviewer if a]
    other_seed = HumanEvalReplay(accuracy=0.5, seed=4)
    assert [a.correct for a in coder if a] != [
        a.correct for a in (other_seed.answer("coder", prompt) for _ in range(40)) if a
    ]


async def test_replay_over_http_reference_passes_broken_fails(
    start_standin: StartStandin,
) -> None:
    good = start_standin(humaneval=True, accuracy=0.0, model_accuracy={"coder": 1.0})
    prompt = "TEMPLATE: implement\n" + load_problems()["HumanEval/2"].prompt
    async with httpx.AsyncClient(base_url=good.api_base) as client:
        right = reply_text(await client.post("/chat/completions", json=chat_body(prompt)))
        wrong = reply_text(
            await client.post("/chat/completions", json=chat_body(prompt, model="reviewer"))
        )
        stats = (await client.get(f"{good.base_url}/standin/stats")).json()
    name, code = solution_file(right)
    assert name == "solution.py"
    assert check_solution("HumanEval/2", code).passed
    _, broken = solution_file(wrong)
    assert broken in broken_variants("HumanEval/2")
    assert not check_solution("HumanEval/2", broken).passed
    assert stats["by_source"] == {"humaneval_reference": 1, "humaneval_broken": 1}


async def test_replay_accuracy_over_http(start_standin: StartStandin) -> None:
    server = start_standin(humaneval=True, model_accuracy={"coder": 0.2, "reviewer": 0.9})
    prompts = [load_problems()[t].prompt for t in SAMPLE]
    rates = {}
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        for model in ("coder", "reviewer"):
            correct = 0
            total = 0
            for prompt in prompts:
                for _ in range(10):
                    text = reply_text(
                        await client.post("/chat/completions", json=chat_body(prompt, model=model))
                    )
                    correct += "_WrongAnswer" not in text and solution_file(text)[1] in {
                        reference_solution(t).rstrip() + "\n" for t in SAMPLE
                    }
                    total += 1
            rates[model] = correct / total
    assert abs(rates["coder"] - 0.2) < 0.08
    assert abs(rates["reviewer"] - 0.9) < 0.08


async def test_request_seed_fixes_the_draw(start_standin: StartStandin) -> None:
    server = start_standin(humaneval=True, accuracy=0.5)
    prompt = load_problems()["HumanEval/7"].prompt
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        seeded = {
            reply_text(await client.post("/chat/completions", json=chat_body(prompt, seed=11)))
            for _ in range(6)
        }
        unseeded = {
            reply_text(await client.post("/chat/completions", json=chat_body(prompt)))
            for _ in range(12)
        }
    assert len(seeded) == 1
    assert len(unseeded) > 1


async def test_script_rules_come_before_replay_and_default_after(
    start_standin: StartStandin,
) -> None:
    server = start_standin(
        humaneval=True,
        accuracy=1.0,
        humaneval_models=["coder"],
        script={"rules": [{"match": "REVIEW", "reply": "LGTM"}], "default": "no idea"},
    )
    prompt = load_problems()["HumanEval/3"].prompt
    async with httpx.AsyncClient(base_url=server.api_base) as client:
        review = await client.post("/chat/completions", json=chat_body("REVIEW\n" + prompt))
        code = await client.post("/chat/completions", json=chat_body(prompt))
        classifier = await client.post(
            "/chat/completions", json=chat_body(prompt, model="classifier")
        )
        other = await client.post("/chat/completions", json=chat_body("hello"))
    assert reply_text(review) == "LGTM"
    assert solution_file(reply_text(code))[0] == "solution.py"
    assert reply_text(classifier) == "no idea"
    assert reply_text(other) == "no idea"


def test_accuracy_is_exact_over_each_block_of_ten() -> None:
    from standin.humaneval import stratified_pass

    for seed in range(3):
        for model, accuracy in (("coder", 0.7), ("coder-b", 0.6), ("coder-c", 0.5)):
            for block in range(4):
                ids = [f"HumanEval/{block * 10 + i}" for i in range(10)]
                hits = [stratified_pass(seed, model, t, "n:0", accuracy) for t in ids]
                assert sum(hits) == round(accuracy * 10)
    first = [stratified_pass(0, "coder", f"HumanEval/{i}", "n:0", 0.5) for i in range(40)]
    again = [stratified_pass(0, "coder", f"HumanEval/{i}", "n:1", 0.5) for i in range(40)]
    other = [stratified_pass(0, "coder-b", f"HumanEval/{i}", "n:0", 0.5) for i in range(40)]
    assert first != again and first != other  # attempts and models draw independently
