"""Prompt templates: Jinja2 files in templates/prompts/, rendered in a sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from engine.errors import OperatorError


class PromptLibrary:
    """Renders `templates/prompts/<name>.j2`; the system prompt is `system.j2`."""

    def __init__(self, templates_dir: Path) -> None:
        self.dir = templates_dir / "prompts"
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(self.dir)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def warm(self) -> None:
        """Compile every template now (Jinja2 caches them), not on a run's first step."""
        for name in [*self.names(), "system"]:
            self.env.get_template(f"{name}.j2")

    def names(self) -> list[str]:
        """Template names available to llm.generate."""
        return sorted(
            p.stem for p in self.dir.glob("*.j2") if p.stem != "system" and p.stem[0] != "_"
        )

    def messages(self, name: str, **context: Any) -> list[dict[str, str]]:
        """System and user messages for template `name`."""
        try:
            template = self.env.get_template(f"{name}.j2")
        except TemplateNotFound:
            raise OperatorError(
                f"prompt template {name!r} does not exist in {self.dir}; "
                f"known: {', '.join(self.names())}",
                code="bad_parameters",
            ) from None
        try:
            user = template.render(template_name=name, **context)
            system = self.env.get_template("system.j2").render(template_name=name, **context)
        except Exception as exc:  # jinja raises many kinds; all mean the template and data disagree
            raise OperatorError(
                f"prompt template {name!r} failed to render: {exc}", code="bad_parameters"
            ) from None
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]
