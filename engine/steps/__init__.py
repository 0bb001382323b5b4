"""Steps: what an operator is and what it gets (`contract`: `Operator`, `StepContext`,
`Services`), and the runner that executes one service task's operator outside the run
transaction (`runner`). The operators themselves live in `engine.ops`."""
