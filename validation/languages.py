"""The languages of generated code the project validates: one `Language` per module, listed here.

Extension point: `LANGUAGES` is the registry. To add a language, write its module (stages,
test-file rule, lexer and one `LANGUAGE = Language(...)`, see `validation.stages.Language`)
and add it to the tuple below; the mesh, consensus, quality prediction, code blocks, run
requests and the run form read it from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from validation import golang, javascript, python
from validation.stages import Language

LANGUAGES: dict[str, Language] = {
    lang.name: lang for lang in (python.LANGUAGE, javascript.LANGUAGE, golang.LANGUAGE)
}

# the type of a language name in requests: pydantic checks it against the registry (a
# `Literal` of the names, so the JSON schema's enum and the error stay as they were); a type
# checker cannot read a registry and sees a str
if TYPE_CHECKING:
    LanguageName = str
else:
    LanguageName = Literal[tuple(LANGUAGES)]


def language(name: str) -> Language | None:
    """The description of the language called `name`; None when it has no validation."""
    return LANGUAGES.get(name)


def names() -> tuple[str, ...]:
    """The languages' names, in the order forms offer them (python first)."""
    return tuple(LANGUAGES)
