"""UI texts per locale: one TOML catalogue per locale (`zh_CN.toml` default, `en.toml`).

Keys are dotted (`[nav] dashboard = "…"` is `nav.dashboard`). A key missing from a catalogue falls
back to the default locale, then to the key itself (a test keeps the catalogues' keys equal).
`{name}` placeholders are filled with `str.format`.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

DEFAULT = "zh-CN"
LOCALES = {"zh-CN": "zh_CN", "en": "en"}  # the cookie's value -> the catalogue's file


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


@cache
def catalogue(locale: str) -> dict[str, str]:
    text = resources.files("daihou.web.i18n").joinpath(f"{LOCALES[locale]}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(text))


def normalise(locale: str | None) -> str:
    if not locale:
        return DEFAULT
    if locale in LOCALES:
        return locale
    low = locale.lower().replace("_", "-")
    return "en" if low.startswith("en") else DEFAULT


def translate(locale: str, key: str, **params: Any) -> str:
    text = catalogue(locale).get(key) or catalogue(DEFAULT).get(key) or key
    return text.format(**params) if params else text


def translator(locale: str) -> Any:
    def t(key: str, **params: Any) -> str:
        return translate(locale, key, **params)

    return t
