"""Memory: what earlier runs and people taught, recalled before a model acts.

- `capture`: a finished run's memories — its solution, the fixes that resolved its failures,
  people's corrections (with the names they objected to) and the pattern's outcome — written
  to the knowledge store with an embedding when an `embedder` model group exists.
- `recall`: the cascade behind the `memory.recall` operator. Stage 1 is the store's (hybrid
  full-text + vector candidates under hard filters, fused by reciprocal rank); stage 2 ranks
  them (`rank`: a ranker fitted from outcomes, a documented formula until there is data);
  stage 3 keeps the best five within a token budget (`tokens`).
- `framework`: the framework a piece of code uses, from its imports and manifests.
- `embedder`: texts → vectors through the `embedder` model group, or None without one.
"""
