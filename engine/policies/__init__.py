"""Learned policies beside the diagram's own decisions (issue 16): which model group does a
step (`router`), what happens after a step fails (`failure`), and how each, with
`decide.pattern`, is distilled into a DMN decision table a person can pin (`dmn`, `pins`).

All of them choose with the arithmetic of `bandit` (Thompson sampling with a utility that
weighs success against latency and tokens, a bounded exploration share) from the outcome
store's `policy_stats`, and write their choice and evidence to `policy_decisions` (`journal`),
which the run page shows.
"""
