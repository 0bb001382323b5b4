"""The one rule for a process id, at upload and when a run starts a diagram: a BPMN id
(an XML NCName, as Camunda Modeler, bpmn.io and spiff-arena write them: `Process_1`,
`sid-…`) of at most 64 characters."""

PROCESS_ID = r"[A-Za-z_][A-Za-z0-9_.-]{0,63}"
PROCESS_ID_RULE = (
    "a process id starts with a letter or '_' and holds letters, digits, '_', '.' and '-' "
    "(at most 64 characters)"
)
