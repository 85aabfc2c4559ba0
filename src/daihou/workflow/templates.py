"""Rendering reminder templates with Jinja2: sandboxed, and a missing variable is an error, not blank."""

from __future__ import annotations

from collections.abc import Mapping

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from daihou.domain.reminders import Template

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


class RenderError(ValueError):
    """The template does not render with the variables given (a missing variable, a syntax error)."""


def render(template: Template, locale: str, variables: Mapping[str, object]) -> tuple[str, str]:
    """(subject, body) of `template` in `locale`."""
    text = template.text(locale)
    try:
        subject = _ENV.from_string(text.subject).render(variables).strip()
        body = _ENV.from_string(text.body).render(variables).strip()
    except TemplateError as exc:
        raise RenderError(f"template {template.id} ({locale}): {exc}") from exc
    return subject, body
