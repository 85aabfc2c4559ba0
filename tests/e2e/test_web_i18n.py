"""The UI text catalogues: the same keys in every locale, and every key the pages use exists."""

from __future__ import annotations

import re
from pathlib import Path

from daihou.web.i18n import LOCALES, catalogue, translate

WEB = Path(__file__).resolve().parents[2] / "src" / "daihou" / "web"


def test_every_locale_has_the_same_keys() -> None:
    keys = {locale: set(catalogue(locale)) for locale in LOCALES}
    assert keys["en"] == keys["zh-CN"], keys["en"] ^ keys["zh-CN"]


def test_every_literal_key_in_the_templates_and_pages_exists() -> None:
    used: set[str] = set()
    for path in [*WEB.rglob("*.html"), *WEB.glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt\(['"]([a-z0-9_.]+)['"]""", text))
        used |= set(re.findall(r'"((?:portal|web)\.(?:err|case|cob|dash|login)\.[a-z_]+)"', text))
    missing = sorted(k for k in used if not k.endswith(".") and k not in catalogue("zh-CN"))
    assert not missing


def test_a_missing_english_text_falls_back_to_chinese_then_to_the_key() -> None:
    assert translate("en", "web.dash.npl_ratio") == "NPL ratio"
    assert translate("zh-CN", "web.dash.npl_ratio") == "不良率"
    assert translate("en", "no.such.key") == "no.such.key"
    assert translate("en", "portal.home.hello", name="王五") == "Hello, 王五"
