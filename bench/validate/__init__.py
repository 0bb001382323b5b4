"""HumanEval accuracy benchmark of the validation mesh (`python -m bench validate --humaneval`,
also `weavergen validate-bench --humaneval`).

For each HumanEval problem the mesh validates the reference solution, which must pass its
`tests` stage, and the deliberately broken variants from `standin.humaneval_mutations`,
which must be caught: their `tests` stage fails (or hits a sandbox limit), or a gate stage
(syntax) fails. Every Python stage runs for every item; lint, types and security findings
on references are counted and reported but do not count against them.

Each item is validated as two files: ``solution.py`` (the code) and ``test_solution.py``
(`bench.humaneval.humaneval_test_file`).

Modules: `items` (what is validated), `results` (the judging rules), `running` (several
validations at once), `report` (the text), `command` (the command line).

The last line of the output is always
``references passed R/P, broken variants caught B/N, T s``; the exit code is 0 only when
every reference passed and every broken variant was caught.
"""
