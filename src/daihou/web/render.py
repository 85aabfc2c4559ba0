"""Rendering shared by the staff pages and the portal: the Jinja2 environment, the request's locale,
money and ratio formatting, and the App the request works on."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from daihou.domain.money import yuan_text
from daihou.web.i18n import DEFAULT, normalise, translator

LANG_COOKIE = "daihou_lang"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def yuan(fen: int | None) -> str:
    """¥ with thousands separators: 1234567 fen -> "12,345.67"."""
    if fen is None:
        return "—"
    text = yuan_text(int(fen))
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, cents = digits.split(".")
    return f"{sign}{int(whole):,}.{cents}"


def pct(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x * 100:.{digits}f}%"


def local_time(value: datetime | None, tz: str = "Asia/Shanghai") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite keeps no offset: stored in UTC
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def iso(value: date | datetime | None) -> str:
    return "" if value is None else value.isoformat()


templates.env.filters.update(yuan=yuan, pct=pct, local_time=local_time, iso=iso)


def locale_of(request: Request) -> str:
    return normalise(request.cookies.get(LANG_COOKIE) or DEFAULT)


def daihou_app(request: Request) -> Any:
    """The `daihou.bootstrap.App` the ASGI app was created for (`create_app` keeps it in state)."""
    state = request.app.state
    for name in ("daihou", "app", "daihou_app"):
        found = getattr(state, name, None)
        if found is not None and hasattr(found, "uow"):
            return found
    raise RuntimeError("the ASGI app has no daihou App in app.state (create it with daihou.api.app.create_app)")


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    locale = locale_of(request)
    context.update(request=request, t=translator(locale), locale=locale)
    return templates.TemplateResponse(request, name, context, status_code=status_code)
