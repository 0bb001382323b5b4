"""The learning stores: the contract every store keeps, and the stores beside it.

`from adapters.learning import X` gives the contract (contract.py): the records, the two kinds
of store (`OutcomeStore`, `KnowledgeStore`) and what their queries answer. The stores are
imported from their own modules, so a server's client library loads only where it is used:
`adapters.learning.postgres` (the embedded default, both kinds), `adapters.learning.influx`
(outcomes) and `adapters.learning.neo4j` (knowledge); the last two share the buffered sender of
`adapters.learning.buffered`.
"""

# the contract's names are exactly its `__all__`
from adapters.learning.contract import *  # noqa: F403
from adapters.learning.contract import __all__ as __all__
