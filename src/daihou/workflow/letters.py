"""Escalation letters (催收函) as PDF, zh-CN by default and English.

The texts are data (`letter_templates/collection_letter.toml`). Before every render they pass the
conduct checks of `domain.compliance.template_problems`: no banned language, and a letter to a
contact person (紧急联系人) may not use any placeholder that discloses the debt — it asks them only to
pass on a message, and says they may refuse further contact. The debtor's letter states the balance,
the reason, the borrower's rights, the dispute channel and the lender's contact.

PDF by ReportLab with its built-in CID font STSong-Light (Chinese without font files).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from io import BytesIO
from typing import TYPE_CHECKING, Any

from daihou.domain.compliance import Refused, template_problems
from daihou.domain.identity import mask_name
from daihou.domain.loan import days_past_due
from daihou.domain.money import yuan_text
from daihou.domain.products import Component
from daihou.domain.servicing import payoff_quote

if TYPE_CHECKING:
    from daihou.bootstrap import App

AUDIENCES = ("debtor", "contact_person")
LOCALES = ("zh-CN", "en")
_PLACEHOLDER = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class LetterRefused:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Letter:
    audience: str
    locale: str
    texts: dict[str, Any]  # rendered
    pdf: bytes


def load_templates() -> dict[str, Any]:
    text = (
        resources.files("daihou.workflow")
        .joinpath("letter_templates/collection_letter.toml")
        .read_text(encoding="utf-8")
    )
    return tomllib.loads(text)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for item in node.values() for s in _strings(item)]
    return []


def check_template(template: dict[str, Any], audience: str) -> tuple[Refused, ...]:
    """Conduct problems of one audience's texts (banned language, debt placeholders for a contact)."""
    texts = _strings(template)
    placeholders = {p for t in texts for p in _PLACEHOLDER.findall(t)}
    return template_problems(texts, placeholders, audience == "contact_person")


def _render(node: Any, values: dict[str, str]) -> Any:
    if isinstance(node, str):
        return node.format_map(values)
    if isinstance(node, list):
        return [_render(n, values) for n in node]
    return node


def letter_values(app: App, loan_no: str, as_of: date) -> dict[str, str] | LetterRefused:
    """The figures of a letter: the loan brought to `as_of` (payoff quote), the borrower, a contact."""
    from daihou.workflow.recovery import build

    with build(app).uow() as uow:
        loan = uow.loans.get(loan_no)
        facts = uow.recovery.borrower_letter_facts(loan_no)
    if loan is None or facts is None:
        return LetterRefused("not_found", f"loan {loan_no} does not exist")
    assert loan.accrued_through is not None
    on = max(as_of, loan.accrued_through)
    quote = payoff_quote(loan, on)
    due = quote.due_fen
    overdue_principal = sum(i.principal.outstanding for i in loan.installments if i.due_date < on)
    overdue_interest = sum(i.interest.outstanding for i in loan.installments if i.due_date < on)
    charges = due[Component.FEE] + due[Component.COST]
    return {
        "borrower_name": str(facts["name"]),
        "contact_name": str(facts["contact_name"] or ""),
        "loan_no": loan_no,
        "disbursed_on": loan.terms.disbursed_on.isoformat(),
        "as_of": on.isoformat(),
        "days_overdue": str(days_past_due(loan, on)),
        "outstanding": yuan_text(loan.outstanding_principal_fen),
        "overdue_principal": yuan_text(overdue_principal),
        "overdue_interest": yuan_text(overdue_interest),
        "penalty": yuan_text(due[Component.PENALTY] + due[Component.COMPOUND]),
        "charges": yuan_text(charges),
        "amount_due": yuan_text(max(0, sum(due.values()) - quote.credit_fen)),
    }


def render_letter(
    values: dict[str, str], audience: str = "debtor", locale: str = "zh-CN", templates: dict[str, Any] | None = None
) -> Letter | LetterRefused:
    if audience not in AUDIENCES:
        return LetterRefused("invalid", f"audience: one of {', '.join(AUDIENCES)}")
    if locale not in LOCALES:
        return LetterRefused("invalid", f"locale: one of {', '.join(LOCALES)}")
    templates = templates or load_templates()
    template = templates[audience][locale]
    if problems := check_template(template, audience):
        return LetterRefused(problems[0].code.value, "; ".join(p.reason for p in problems))
    if audience == "contact_person" and not values.get("contact_name"):
        return LetterRefused("no_contact_person", "the borrower has no contact person on file")
    lender = templates["lender"]
    zh = locale == "zh-CN"
    all_values = {
        **values,
        "lender_name": lender["name_zh" if zh else "name_en"],
        "lender_phone": lender["phone"],
        "lender_email": lender["email"],
        "lender_address": lender["address_zh" if zh else "address_en"],
        "dispute_phone": lender["dispute_phone"],
        "dispute_email": lender["dispute_email"],
    }
    if audience == "contact_person":
        # only the names are needed, and the borrower's is masked: nothing about the debt reaches a third party
        all_values = {k: v for k, v in all_values.items() if not k.startswith(("dispute",))}
        all_values["borrower_name"] = mask_name(values["borrower_name"])
    texts = {k: _render(v, all_values) for k, v in template.items()}
    return Letter(audience, locale, texts, _pdf(texts, all_values["lender_name"], values["as_of"]))


def _pdf(texts: dict[str, Any], lender_name: str, as_of: str) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle("body", fontName="STSong-Light", fontSize=11, leading=17, wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=18, leading=26, alignment=1)
    heading = ParagraphStyle("heading", parent=body, fontSize=12, leading=20)
    story: list[Any] = [Paragraph(texts["title"], title), Spacer(1, 6 * mm), Paragraph(texts["greeting"], body)]
    for key in ("intro", "reason"):
        if texts.get(key):
            story += [Spacer(1, 2 * mm), Paragraph(texts[key], body)]
    if texts.get("rows"):
        table = Table([texts["table_headers"], *texts["rows"]], colWidths=[90 * mm, 50 * mm])
        table.setStyle(
            TableStyle(
                [
                    ("FONTNAME", (0, 0), (-1, -1), "STSong-Light"),
                    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                    ("ALIGN", (1, 1), (1, -1), "RIGHT"),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ]
            )
        )
        story += [Spacer(1, 3 * mm), table]
    if texts.get("request"):
        story += [Spacer(1, 3 * mm), Paragraph(texts["request"], body)]
    if texts.get("rights"):
        story += [Spacer(1, 3 * mm), Paragraph(texts["rights_title"], heading)]
        story += [Paragraph(f"{n}. {text}", body) for n, text in enumerate(texts["rights"], 1)]
    for key in ("dispute", "contact", "closing"):
        if texts.get(key):
            story += [Spacer(1, 2 * mm), Paragraph(texts[key], body)]
    story += [Spacer(1, 8 * mm), Paragraph(lender_name, body), Paragraph(as_of, body)]
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, title=texts["title"], author=lender_name)
    doc.build(story)
    return out.getvalue()


def letter(
    app: App, loan_no: str, as_of: date, audience: str = "debtor", locale: str = "zh-CN"
) -> Letter | LetterRefused:
    values = letter_values(app, loan_no, as_of)
    if isinstance(values, LetterRefused):
        return values
    return render_letter(values, audience, locale)
