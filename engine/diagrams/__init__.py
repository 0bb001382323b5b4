"""Diagrams: parsing and checking an uploaded BPMN file (`loading`), the restricted expression
language of its gateways and scripts (`expressions`), the SpiffWorkflow parser and serializer
set-up (`specs`), and the versioned catalog in PostgreSQL (`catalog`)."""
