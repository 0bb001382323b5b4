"""`weavergen eval --humaneval`: measure consensus, quality prediction and the reasoning loop.

Each HumanEval problem becomes a real run of the `quick` pattern per strategy:

- `single`: the first model group answers once; no improve loop.
- `consensus`: every model group answers in parallel; `llm.consensus` chooses; no loop.
- `consensus+loop`: the consensus, then the improve loop (validation findings and recalled
  fixes go to `llm.improve`) until the code passes, the bound is reached or two iterations
  bring no improvement.

The problem's own tests go with the request as `checks` (validated with the code, never
shown to a model). pass@1 counts a run that completed with a `solution.py` that passes
those tests, judged again in the sandbox. The quality prediction is scored (AUC, Brier)
against the same judgement of every candidate it was made for; then, on the same candidates,
the hand-set model beside the fitted one (engine/decisions/quality_fit.py), cross-validated
by problem: each problem's candidates predicted by a model fitted on the other problems'
(`fitted`).

With `--server URL` the runs go to a running WeaverGen (whatever models it is configured
with: vLLM in production). Without it, the command starts its own: an embedded PostgreSQL,
the engine with a worker, and the stand-in model replaying HumanEval with the accuracies of
`--standin-accuracy` — not a model; the expected figures it allows are printed beside the
measured ones. The last line reads `pass@1 single=A consensus=B consensus+loop=C`.

Modules: `figures` (outcomes, summaries and the table), `fitted` (hand-set vs fitted quality
prediction), `evaluate` (one problem under one strategy, then all of them), `runs` (where runs
go: a server or an engine here), `command` (the command line, `python -m bench eval`).
"""
