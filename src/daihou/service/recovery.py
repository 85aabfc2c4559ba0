"""Recovery use cases: legal matters, agencies (委外), guarantor recovery, collateral disposal.

Money moves only through the ledger: legal costs and disposal costs are `Charge`s of collection
costs (`Component.COST`, first in the 民法典 art. 561 waterfall), guarantor payments and sale proceeds
are `Payment`s with their own references (`GUAR…`, the disposal's reference) and a receipt that
names the source. Each use case is one unit of work: the ledger event and the recovery record
commit together. Rejections are `Outcome`s with a code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from daihou.domain.agencies import CommissionRules, Evaluation, commission_fen, may_place
from daihou.domain.grades import bucket_of
from daihou.domain.loan import LoanStatus, days_past_due
from daihou.domain.money import yuan_text
from daihou.domain.parties import CUSTODY_NEXT, CustodyStatus, Valuation
from daihou.domain.products import Component
from daihou.domain.servicing import Charge, Payment, payoff_quote
from daihou.service.ledger import ACCEPTED, Outcome, post_in
from daihou.service.ports import PlacementRecord, RecoveryUnitOfWork

NOT_FOUND = "not_found"
INVALID = "invalid"
STAGE_NOT_ALLOWED = "legal_stage_not_allowed"
ALREADY_PLACED = "already_placed"
NOT_PLACED = "not_placed"
DUPLICATE = "duplicate"
CUSTODY_NOT_ALLOWED = "custody_transition_not_allowed"

# ---------------------------------------------------------------- legal matters

STAGES = ("lawyer_letter", "litigation", "enforcement", "closed")


def open_matter(
    uow: RecoveryUnitOfWork,
    loan_no: str,
    on: date,
    by: str,
    stage: str = "lawyer_letter",
    lawyer: str = "",
    note: str = "",
) -> Outcome:
    if stage not in STAGES[:3]:
        return Outcome(INVALID, f"stage: one of {', '.join(STAGES[:3])}", loan_no)
    with uow:
        if not uow.loans.existing([loan_no]):
            return Outcome(NOT_FOUND, f"loan {loan_no} does not exist", loan_no)
        mid = uow.recovery.add_matter(
            loan_no, {"stage": stage, "lawyer": lawyer or None, "opened_on": on, "opened_by": by}
        )
        uow.recovery.add_legal_event(mid, {"kind": "opened", "on_date": on, "text": note or stage, "by_user": by})
        uow.commit()
    return Outcome(ACCEPTED, f"legal matter {mid} opened for {loan_no} at {stage}", loan_no, detail={"id": mid})


@dataclass(frozen=True, slots=True)
class MatterUpdate:
    """What happened in a matter; only the fields given change. Stages only move forward."""

    on: date
    by: str
    stage: str | None = None
    court: str | None = None
    case_no: str | None = None
    filed_on: date | None = None
    claim_fen: int | None = None
    hearing_on: date | None = None
    judgment_on: date | None = None
    judgment_fen: int | None = None
    judgment_summary: str | None = None
    enforcement_case_no: str | None = None
    enforcement_filed_on: date | None = None
    note: str = ""


def update_matter(uow: RecoveryUnitOfWork, matter_id: int, u: MatterUpdate) -> Outcome:
    with uow:
        m = uow.recovery.get_matter(matter_id)
        if m is None:
            return Outcome(NOT_FOUND, f"no legal matter {matter_id}")
        if m.stage == "closed":
            return Outcome(STAGE_NOT_ALLOWED, f"legal matter {matter_id} is closed", m.loan_no)
        values: dict[str, object] = {}
        for name in (
            "court",
            "case_no",
            "filed_on",
            "claim_fen",
            "judgment_on",
            "judgment_fen",
            "judgment_summary",
            "enforcement_case_no",
            "enforcement_filed_on",
        ):
            if (value := getattr(u, name)) is not None:
                values[name] = value
        merged = {**asdict(m), **values}
        if u.stage is not None and u.stage != m.stage:
            if u.stage not in STAGES or STAGES.index(u.stage) < STAGES.index(m.stage):
                return Outcome(
                    STAGE_NOT_ALLOWED, f"stage {m.stage} cannot move to {u.stage} (order: {' → '.join(STAGES)})"
                )
            if u.stage == "litigation" and not (merged["court"] and merged["case_no"]):
                return Outcome(STAGE_NOT_ALLOWED, "litigation needs the court and the case number", m.loan_no)
            if u.stage == "enforcement" and not merged["judgment_on"]:
                return Outcome(STAGE_NOT_ALLOWED, "enforcement needs a judgment (judgment date)", m.loan_no)
            values["stage"] = u.stage
            if u.stage == "closed":
                values["closed_on"] = u.on
        if values:
            uow.recovery.update_matter(matter_id, values)
        events = []
        if "stage" in values:
            events.append(("stage", f"{m.stage} → {u.stage}"))
        if u.hearing_on is not None:
            events.append(("hearing", f"hearing on {u.hearing_on.isoformat()}"))
        if u.judgment_on is not None:
            amount = f" ¥{yuan_text(u.judgment_fen)}" if u.judgment_fen is not None else ""
            events.append(("judgment", f"judgment of {u.judgment_on.isoformat()}{amount} {u.judgment_summary or ''}"))
        if u.enforcement_case_no is not None:
            events.append(("enforcement", f"enforcement case {u.enforcement_case_no}"))
        if u.note:
            events.append(("note", u.note))
        for kind, text in events:
            on = u.hearing_on if kind == "hearing" and u.hearing_on else u.on
            uow.recovery.add_legal_event(matter_id, {"kind": kind, "on_date": on, "text": text[:400], "by_user": u.by})
        uow.commit()
    return Outcome(
        ACCEPTED, f"legal matter {matter_id} updated", m.loan_no, detail={"stage": values.get("stage", m.stage)}
    )


def add_cost(
    uow: RecoveryUnitOfWork, matter_id: int, amount_fen: int, on: date, by: str, reference: str, note: str = ""
) -> Outcome:
    """A legal cost (court fee, lawyer's fee, preservation) posted to the ledger as a collection cost."""
    if amount_fen <= 0:
        return Outcome(INVALID, "amount: must be positive")
    with uow:
        m = uow.recovery.get_matter(matter_id)
        if m is None:
            return Outcome(NOT_FOUND, f"no legal matter {matter_id}")
        reason = f"legal matter {matter_id}: {note or 'legal cost'}"[:400]
        outcome = post_in(uow, m.loan_no, Charge(on, Component.COST, amount_fen, reference, reason))
        if outcome.code != ACCEPTED:
            return outcome
        uow.recovery.add_legal_event(
            matter_id,
            {
                "kind": "cost",
                "on_date": on,
                "text": (note or "legal cost")[:400],
                "amount_fen": amount_fen,
                "reference": reference,
                "by_user": by,
            },
        )
        uow.commit()
    return Outcome(
        ACCEPTED, f"legal cost ¥{yuan_text(amount_fen)} charged to {m.loan_no}", m.loan_no, reference, outcome.detail
    )


# ---------------------------------------------------------------- agencies (委外)


def add_agency(uow: RecoveryUnitOfWork, code: str, name: str, contact: str = "") -> Outcome:
    if not code.strip() or not name.strip():
        return Outcome(INVALID, "an agency needs a code and a name")
    with uow:
        if uow.recovery.agency(code) is not None:
            return Outcome(DUPLICATE, f"agency {code} already exists")
        aid = uow.recovery.add_agency(code, name, contact)
        uow.commit()
    return Outcome(ACCEPTED, f"agency {code} added", detail={"id": aid})


def evaluate(
    uow: RecoveryUnitOfWork,
    rules: CommissionRules,
    code: str,
    score: int,
    on: date,
    evaluator: str,
    valid_until: date | None = None,
    notes: str = "",
) -> Outcome:
    if not 0 <= score <= 100:
        return Outcome(INVALID, "score: between 0 and 100")
    until = valid_until or on + timedelta(days=rules.evaluation_valid_days)
    if until < on:
        return Outcome(INVALID, "valid_until: on or after the evaluation date")
    with uow:
        agency = uow.recovery.agency(code)
        if agency is None:
            return Outcome(NOT_FOUND, f"no agency {code}")
        uow.recovery.add_evaluation(
            agency.id,
            {"score": score, "evaluated_on": on, "valid_until": until, "evaluator": evaluator, "notes": notes or None},
        )
        uow.commit()
    return Outcome(ACCEPTED, f"agency {code} evaluated {score} on {on}, valid until {until}")


def place(
    uow: RecoveryUnitOfWork,
    rules: CommissionRules,
    loan_no: str,
    code: str,
    on: date,
    by: str,
    recall_on: date | None = None,
) -> Outcome:
    """Place a loan with an agency; refused without a current evaluation. The loan's open collection
    case is pointed at the agency (`collection_cases.placement_agency_id`)."""
    with uow:
        agency = uow.recovery.agency(code)
        if agency is None:
            return Outcome(NOT_FOUND, f"no agency {code}", loan_no)
        evaluations = [Evaluation(s, e, u) for s, e, u in uow.recovery.evaluations(agency.id)]
        if refusal := may_place(evaluations, on, rules, agency.active):
            return Outcome(refusal.code, refusal.message, loan_no)
        loan = uow.loans.get(loan_no)
        if loan is None:
            return Outcome(NOT_FOUND, f"loan {loan_no} does not exist", loan_no)
        if loan.is_closed:
            return Outcome("loan_closed", f"loan {loan_no} is {loan.status.value}", loan_no)
        if (current := uow.recovery.active_placement(loan_no)) is not None:
            return Outcome(ALREADY_PLACED, f"loan {loan_no} is placed with {current.agency_code}", loan_no)
        stage = "WO" if loan.status is LoanStatus.WRITTEN_OFF else bucket_of(days_past_due(loan, on))
        balance = payoff_quote(loan, on).total_fen if loan.status is not LoanStatus.WRITTEN_OFF else 0
        pid = uow.recovery.place(
            agency.id,
            loan_no,
            {
                "stage": stage,
                "balance_fen": balance,
                "placed_on": on,
                "recall_on": recall_on or on + timedelta(days=rules.placement_days),
                "placed_by": by,
            },
        )
        cases = uow.recovery.set_case_agency(loan_no, agency.id)
        uow.commit()
    return Outcome(
        ACCEPTED,
        f"loan {loan_no} placed with {code} at {stage}",
        loan_no,
        detail={"id": pid, "stage": stage, "cases_updated": cases},
    )


def recall(uow: RecoveryUnitOfWork, loan_no: str, on: date, reason: str = "") -> Outcome:
    with uow:
        current = uow.recovery.active_placement(loan_no)
        if current is None:
            return Outcome(NOT_PLACED, f"loan {loan_no} is not placed with an agency", loan_no)
        if on < current.placed_on:
            return Outcome(INVALID, f"recall date {on} is before the placement on {current.placed_on}", loan_no)
        uow.recovery.recall(current.id, on, reason)
        uow.recovery.set_case_agency(loan_no, None)
        uow.commit()
    return Outcome(ACCEPTED, f"loan {loan_no} recalled from {current.agency_code}", loan_no)


@dataclass(frozen=True, slots=True)
class CommissionLine:
    placement: PlacementRecord
    commission_fen: int


def commissions(
    uow: RecoveryUnitOfWork, rules: CommissionRules, as_of: date, agency: str | None = None
) -> list[CommissionLine]:
    """Commission on what each placement recovered up to `as_of` (one set-based query, then the rules)."""
    with uow:
        rows = uow.recovery.placements(agency, as_of)
    return [CommissionLine(p, commission_fen(p.recovered_fen, p.stage, rules)) for p in rows]


# ---------------------------------------------------------------- recoveries after write-off


def recoveries_report(uow: RecoveryUnitOfWork, since: date | None, until: date | None) -> dict[str, Any]:
    """Money booked as recovery income after write-off, per loan, and the totals written off."""
    with uow:
        rows = uow.recovery.recoveries(since, until)
        written = uow.recovery.write_offs()
    data = [
        {
            "loan_no": r["loan_no"],
            "written_off_on": str(r["written_off_on"]) if r["written_off_on"] else None,
            "written_off": yuan_text(int(str(r["written_off_fen"] or 0))),
            "recovered": yuan_text(int(str(r["recovered_fen"]))),
            "last_recovery_on": str(r["last_recovery_on"]),
        }
        for r in rows
    ]
    return {
        "recoveries": data,
        "loans_written_off": len(written),
        "written_off": yuan_text(sum(int(str(w["total_fen"])) for w in written)),
        "recovered": yuan_text(sum(int(str(r["recovered_fen"])) for r in rows)),
    }


# ---------------------------------------------------------------- guarantors and collateral


def demand_on_guarantor(uow: RecoveryUnitOfWork, loan_no: str, guarantor_id: int, on: date, by: str) -> Outcome:
    """Demand payment from a guarantor: what settles the loan on `on`, capped at the guarantee."""
    with uow:
        loan = uow.loans.get(loan_no)
        if loan is None:
            return Outcome(NOT_FOUND, f"loan {loan_no} does not exist", loan_no)
        found = dict(uow.recovery.guarantors(loan_no))
        if guarantor_id not in found:
            return Outcome(NOT_FOUND, f"loan {loan_no} has no guarantor {guarantor_id}", loan_no)
        if loan.is_closed or loan.status is LoanStatus.WRITTEN_OFF:
            return Outcome("loan_not_open", f"loan {loan_no} is {loan.status.value}", loan_no)
        assert loan.accrued_through is not None
        owed = payoff_quote(loan, max(on, loan.accrued_through)).total_fen
        cap = found[guarantor_id].amount_fen
        amount = owed if cap is None else min(owed, cap)
        did = uow.recovery.add_demand(loan_no, guarantor_id, on, amount, by)
        uow.commit()
    g = found[guarantor_id]
    return Outcome(
        ACCEPTED,
        f"demand {did} on guarantor {g.name} ({g.guarantee_type.value}) for ¥{yuan_text(amount)}",
        loan_no,
        detail={"id": did, "amount": yuan_text(amount), "owed": yuan_text(owed)},
    )


def guarantor_payment(
    uow: RecoveryUnitOfWork, loan_no: str, guarantor_id: int, amount_fen: int, on: date, reference: str
) -> Outcome:
    """A guarantor's payment: a ledger payment through the waterfall, with a receipt naming the guarantor."""
    with uow:
        known = bool(uow.loans.existing([loan_no])) and guarantor_id in dict(uow.recovery.guarantors(loan_no))
        if not known:
            return Outcome(NOT_FOUND, f"loan {loan_no} has no guarantor {guarantor_id}", loan_no)
        outcome = post_in(uow, loan_no, Payment(on, amount_fen, reference))
        if outcome.code != ACCEPTED:
            return outcome
        uow.recovery.add_receipt(loan_no, "guarantor", guarantor_id, reference, on, amount_fen)
        uow.commit()
    return outcome


@dataclass(frozen=True, slots=True)
class Disposal:
    collateral_id: int
    valued_on: date
    valuation_fen: int
    sold_on: date
    proceeds_fen: int
    costs_fen: int
    reference: str
    by: str
    buyer: str = ""
    appraiser: str = ""


def dispose_collateral(uow: RecoveryUnitOfWork, d: Disposal) -> Outcome:
    """Collateral sold (资产处置): the valuation kept, disposal costs charged as a collection cost, the
    proceeds applied as a payment through the waterfall, custody moved to `disposed`."""
    problems = [f"{name}: must be positive" for name in ("valuation_fen", "proceeds_fen") if getattr(d, name) <= 0]
    problems += ["costs_fen: may not be negative"] if d.costs_fen < 0 else []
    if problems:
        return Outcome(INVALID, "; ".join(problems))
    with uow:
        loan_no = uow.recovery.collateral_loan(d.collateral_id)
        collateral = uow.securities.get_collateral(d.collateral_id)
        if loan_no is None or collateral is None:
            return Outcome(NOT_FOUND, f"collateral {d.collateral_id} does not exist")
        if CustodyStatus.DISPOSED not in CUSTODY_NEXT[collateral.custody_status]:
            return Outcome(
                CUSTODY_NOT_ALLOWED, f"collateral {d.collateral_id} is {collateral.custody_status.value}", loan_no
            )
        uow.securities.add_valuation(d.collateral_id, Valuation(d.valued_on, d.valuation_fen, d.appraiser, "disposal"))
        if d.costs_fen:
            charged = post_in(
                uow,
                loan_no,
                Charge(d.sold_on, Component.COST, d.costs_fen, f"{d.reference}:COST", "collateral disposal costs"),
            )
            if charged.code != ACCEPTED:
                return charged
        paid = post_in(uow, loan_no, Payment(d.sold_on, d.proceeds_fen, d.reference))
        if paid.code != ACCEPTED:
            return paid
        loan = uow.loans.get(loan_no)
        assert loan is not None
        surplus = loan.credit_fen if loan.status is not LoanStatus.WRITTEN_OFF else 0
        uow.recovery.add_disposal(
            d.collateral_id,
            loan_no,
            {
                "valued_on": d.valued_on,
                "valuation_fen": d.valuation_fen,
                "sold_on": d.sold_on,
                "proceeds_fen": d.proceeds_fen,
                "costs_fen": d.costs_fen,
                "buyer": d.buyer or None,
                "reference": d.reference,
                "surplus_fen": surplus,
                "by_user": d.by,
            },
        )
        uow.recovery.add_receipt(loan_no, "collateral", d.collateral_id, d.reference, d.sold_on, d.proceeds_fen)
        uow.securities.set_custody(d.collateral_id, CustodyStatus.DISPOSED)
        uow.commit()
    return Outcome(
        ACCEPTED,
        f"collateral {d.collateral_id} sold for ¥{yuan_text(d.proceeds_fen)}; applied to {loan_no}",
        loan_no,
        d.reference,
        {**paid.detail, "surplus": yuan_text(surplus)},
    )
