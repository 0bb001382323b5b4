"""Decisions: the keyword rules that classify a request (`rules`), the quality prediction of a
validated candidate (`quality`) and the grouping of candidates that agree (`grouping`)."""
