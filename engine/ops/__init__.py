"""The operators WeaverGen ships, registered on `OPERATORS`.

Importing this package registers every operator; add a module here (and import it below)
to add operators. Services an operator needs (model router, prompts, settings) arrive in
`StepContext.services`, built by the composition root.
"""

from engine.steps.contract import OperatorRegistry

OPERATORS = OperatorRegistry()

from engine.ops import (  # noqa: E402,F401
    consensus,
    decide,
    finish,
    intent,
    llm,
    memory,
    script,
    validate,
)
