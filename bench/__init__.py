"""Benchmarks beside the product: they drive the engine, the validation mesh and the stand-in
model the way a user would, and print figures. Nothing in the product imports them.

`python -m bench validate|eval|learn …` runs one (`weavergen validate-bench`, `weavergen eval`
and `weavergen learn-bench` hand their arguments to it); the shell scripts beside this file
are the usual invocations.
"""
