"""Checks on generated code, per language, run in the sandbox (see `validation.mesh`)."""
