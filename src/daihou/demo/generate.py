"""The demo book as columns: borrowers, loans, schedules, payments, transactions and journal.

Nothing here touches a database: `generate_book` returns NumPy columns (and object columns of
strings) that `daihou.demo.load` writes. The same seed gives the same book.

The product mix is data (`PRODUCT_MIX`): 等额本息 consumer and standard loans are the majority,
mortgages are 等额本金 over 10–30 years, small-business loans are 先息后本 or bullet and go to
enterprise borrowers. Terms that a product fixes (method, grace days, day count, penalty multiplier,
legal cap, waterfall) come from the products stored in the book, as `daihou.domain.booking.book`
copies them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from daihou.batch.schedules import METHOD_CODES, build_schedules
from daihou.demo.behaviour import BehaviourMix, LoanTerms, Outcome, simulate
from daihou.demo.parties import Parties, make_parties, make_pools
from daihou.domain.calendar import Frequency
from daihou.domain.caps import CAP_PROFILES, collectable_rates
from daihou.domain.journal import Account
from daihou.domain.money import quantize_rate, rate_ppm
from daihou.domain.products import Component, Product, RepaymentMethod

I64 = npt.NDArray[np.int64]
Obj = npt.NDArray[np.object_]
Progress = Callable[[str, int, int], None]

BOOK_DAYS = 730  # disbursements over the two years before the business date
BROKEN_SHARE = 0.20  # loans whose first due date is the lender's repayment day
REPAYMENT_DAY = 20  # … the 20th of the month
TWO_LOAN_SHARE = 0.10  # borrowers with a second loan
OFFICERS = 40
ACCOUNTS: tuple[Account, ...] = tuple(Account)


@dataclass(frozen=True, slots=True)
class ProductMix:
    """How often a product appears in the demo book and the ranges its loans are drawn from."""

    code: str
    share: float
    principal_yuan: tuple[int, int]  # log-uniform between, rounded to the step
    principal_step_yuan: int
    rate_ppm: tuple[int, int]  # uniform between, in steps
    rate_step_ppm: int
    periods: tuple[int, ...]
    period_shares: tuple[float, ...]
    purposes: tuple[str, ...]
    enterprise: bool = False  # lent to small businesses


PRODUCT_MIX: tuple[ProductMix, ...] = (
    ProductMix(
        code="CONSUMER",
        share=0.46,
        principal_yuan=(3_000, 200_000),
        principal_step_yuan=100,
        rate_ppm=(72_000, 239_000),
        rate_step_ppm=100,
        periods=(3, 6, 9, 12, 18, 24, 36),
        period_shares=(0.08, 0.17, 0.1, 0.3, 0.1, 0.15, 0.1),
        purposes=("装修", "购买家电", "教育培训", "旅游", "医疗", "婚庆", "购买数码产品"),
    ),
    ProductMix(
        code="STD",
        share=0.37,
        principal_yuan=(20_000, 500_000),
        principal_step_yuan=1_000,
        rate_ppm=(34_500, 150_000),
        rate_step_ppm=500,
        periods=(6, 12, 24, 36),
        period_shares=(0.1, 0.4, 0.3, 0.2),
        purposes=("个人消费", "购车", "装修", "教育", "医疗"),
    ),
    ProductMix(
        code="MORTGAGE",
        share=0.02,
        principal_yuan=(300_000, 3_000_000),
        principal_step_yuan=10_000,
        rate_ppm=(31_000, 49_000),
        rate_step_ppm=500,
        periods=(120, 180, 240, 300, 360),
        period_shares=(0.15, 0.2, 0.25, 0.15, 0.25),
        purposes=("购买首套住房", "购买二套住房", "改善型住房"),
    ),
    ProductMix(
        code="SME_REVOLVE",
        share=0.10,
        principal_yuan=(100_000, 3_000_000),
        principal_step_yuan=10_000,
        rate_ppm=(34_500, 90_000),
        rate_step_ppm=500,
        periods=(12, 24, 36),
        period_shares=(0.5, 0.3, 0.2),
        purposes=("采购原材料", "补充流动资金", "支付货款", "购置设备", "支付房租"),
        enterprise=True,
    ),
    ProductMix(
        code="BRIDGE",
        share=0.05,
        principal_yuan=(50_000, 1_000_000),
        principal_step_yuan=10_000,
        rate_ppm=(43_500, 120_000),
        rate_step_ppm=500,
        periods=(3, 6, 9, 12),
        period_shares=(0.3, 0.3, 0.2, 0.2),
        purposes=("短期资金周转", "支付工程款", "支付货款"),
        enterprise=True,
    ),
)


@dataclass(frozen=True, slots=True)
class ProductRef:
    id: int  # products.id in the book
    product: Product


@dataclass(frozen=True, slots=True)
class Loans:
    """One element per loan, in disbursement order (which is also loan number order)."""

    loan_no: Obj
    product: I64  # index into PRODUCT_MIX and DemoBook.products
    borrower: I64  # index into the parties
    principal_fen: I64
    rate_ppm: I64
    penalty_ppm: I64
    periods: I64
    disbursed: I64  # days since 1970-01-01
    first_due: I64  # -1: one period after disbursement (no broken first period)
    officer: Obj
    purpose: Obj

    def __len__(self) -> int:
        return int(self.principal_fen.shape[0])


@dataclass(frozen=True, slots=True)
class Ledger:
    """Transactions, journal entries and lines, in loan order; positions index the arrays here."""

    tx_loan: I64
    tx_payment: I64  # index into the payments, -1 for the disbursement
    tx_day: I64
    tx_amount: I64
    entry_loan: I64
    entry_kind: I64  # 0 disbursement, 1 payment, 2 accrual
    entry_tx: I64  # position of its transaction, -1 for the accrual
    entry_day: I64
    line_entry: I64
    line_loan: I64
    line_account: I64  # index into ACCOUNTS
    line_amount: I64


ENTRY_DISBURSEMENT, ENTRY_PAYMENT, ENTRY_ACCRUAL = 0, 1, 2


@dataclass(frozen=True, slots=True)
class DemoBook:
    as_of: date
    products: tuple[ProductRef, ...]  # in PRODUCT_MIX order
    parties: Parties
    borrower_no: Obj
    loans: Loans
    outcome: Outcome
    ledger: Ledger
    payment_seq: I64  # 1, 2, … within each loan: the k of DEMO-<loan_no>-<k>


def generate_book(
    products: Sequence[ProductRef],
    *,
    loans: int,
    seed: int,
    as_of: date,
    mix: BehaviourMix | None = None,
    progress: Progress | None = None,
) -> DemoBook:
    """A book of `loans` loans as of the business date `as_of`; products are given in PRODUCT_MIX order."""
    if loans < 1:
        raise ValueError("the demo book needs at least one loan")
    _check_products(products)
    tell = progress or (lambda stage, done, total: None)
    rng = np.random.default_rng(seed)
    as_of_day = int(np.datetime64(as_of, "D").astype(np.int64))

    tell("loans", 0, loans)
    book = _draw_loans(rng, products, loans, as_of_day)
    borrower, enterprise = _assign_borrowers(rng, book.product)
    first_loan = np.full(enterprise.shape[0], loans, dtype=np.int64)
    np.minimum.at(first_loan, borrower, np.arange(loans))
    tell("borrowers", 0, int(enterprise.shape[0]))
    parties = make_parties(rng, make_pools(seed), enterprise, book.disbursed[first_loan])
    book = _with_borrower(book, borrower)

    tell("schedules", 0, loans)
    refs = [products[k].product for k in range(len(PRODUCT_MIX))]
    year_days = np.array([p.day_count.year_days for p in refs], dtype=np.int64)[book.product]
    method = np.array([METHOD_CODES[p.method] for p in refs], dtype=np.int8)[book.product]
    first_due = np.where(book.first_due >= 0, book.first_due, np.iinfo(np.int64).min)
    schedule = build_schedules(
        book.principal_fen,
        book.rate_ppm,
        book.periods,
        method,
        book.disbursed.astype("datetime64[D]"),
        first_due.astype("datetime64[D]"),
        year_days,
    )
    tell("payments", 0, len(schedule))
    terms = LoanTerms(
        principal_fen=book.principal_fen,
        rate_ppm=book.rate_ppm,
        penalty_ppm=book.penalty_ppm,
        year_days=year_days,
        grace_days=np.array([p.grace_days for p in refs], dtype=np.int64)[book.product],
        tolerance_fen=np.array([p.dpd_tolerance_fen for p in refs], dtype=np.int64)[book.product],
        compound=np.array([p.compound_interest for p in refs], dtype=bool)[book.product],
        interest_first=np.array([_interest_first(p) for p in refs], dtype=bool)[book.product],
        disbursed=book.disbursed,
    )
    outcome = simulate(rng, terms, schedule, as_of_day, mix or BehaviourMix())
    ledger, payment_seq = _lay_out_ledger(book, outcome, as_of_day)
    borrower_no = np.array([f"JK{k:08d}" for k in range(1, len(parties) + 1)], dtype=object)
    return DemoBook(as_of, tuple(products), parties, borrower_no, book, outcome, ledger, payment_seq)


def _check_products(products: Sequence[ProductRef]) -> None:
    codes = [p.product.code for p in products]
    if codes != [m.code for m in PRODUCT_MIX]:
        raise ValueError(f"the demo book needs the products {[m.code for m in PRODUCT_MIX]}, got {codes}")
    for ref in products:
        if ref.product.frequency is not Frequency.MONTHLY:
            raise ValueError(f"product {ref.product.code} is not monthly; the demo book is monthly only")


def _interest_first(product: Product) -> bool:
    order = product.allocation.order
    return order.index(Component.INTEREST) < order.index(Component.PRINCIPAL)


# ---------------------------------------------------------------- loans


def _draw_loans(rng: np.random.Generator, products: Sequence[ProductRef], n: int, as_of_day: int) -> Loans:
    product = rng.choice(len(PRODUCT_MIX), size=n, p=[m.share for m in PRODUCT_MIX]).astype(np.int64)
    disbursed = as_of_day - rng.integers(1, BOOK_DAYS + 1, size=n)
    order = np.argsort(disbursed, kind="stable")  # loan numbers follow the disbursement dates
    product, disbursed = product[order], disbursed[order]
    principal = np.zeros(n, dtype=np.int64)
    rate = np.zeros(n, dtype=np.int64)
    periods = np.zeros(n, dtype=np.int64)
    purpose = np.empty(n, dtype=object)
    for k, m in enumerate(PRODUCT_MIX):
        at = np.flatnonzero(product == k)
        lo, hi = m.principal_yuan
        yuan = np.exp(rng.uniform(np.log(lo), np.log(hi), size=at.shape[0]))
        steps = np.clip(np.rint(yuan / m.principal_step_yuan), lo // m.principal_step_yuan, hi // m.principal_step_yuan)
        principal[at] = steps.astype(np.int64) * m.principal_step_yuan * 100
        r_lo, r_hi = (r // m.rate_step_ppm for r in m.rate_ppm)
        rate[at] = rng.integers(r_lo, r_hi + 1, size=at.shape[0]) * m.rate_step_ppm
        periods[at] = rng.choice(np.array(m.periods), size=at.shape[0], p=m.period_shares)
        purpose[at] = np.array(m.purposes, dtype=object)[rng.integers(0, len(m.purposes), size=at.shape[0])]
    bullet = np.array([p.product.method is RepaymentMethod.BULLET for p in products])[product]
    broken = rng.random(n) < BROKEN_SHARE
    first_month = disbursed.astype("datetime64[D]").astype("datetime64[M]") + np.where(bullet, periods, 1)
    repayment_day = first_month.astype("datetime64[D]").astype(np.int64) + REPAYMENT_DAY - 1
    first_due = np.where(broken, repayment_day, -1)
    officers = np.array(
        [f"E{k:05d}" for k in rng.choice(np.arange(10_000, 100_000), size=OFFICERS, replace=False).tolist()],
        dtype=object,
    )
    days = disbursed.astype("datetime64[D]").astype(str)
    loan_no = np.array([f"JJ{d[:4]}{d[5:7]}{d[8:]}{k:07d}" for k, d in enumerate(days.tolist(), start=1)], dtype=object)
    return Loans(
        loan_no=loan_no,
        product=product,
        borrower=np.zeros(n, dtype=np.int64),
        principal_fen=principal,
        rate_ppm=rate,
        penalty_ppm=_penalty_ppm(products, product, rate, disbursed),
        periods=periods,
        disbursed=disbursed,
        first_due=first_due,
        officer=officers[rng.integers(0, OFFICERS, size=n)],
        purpose=purpose,
    )


def _penalty_ppm(products: Sequence[ProductRef], product: I64, rate: I64, disbursed: I64) -> I64:
    """The collectable penalty rate of each loan, as `booking.book` derives it (product multiple, legal cap)."""
    out = np.zeros(product.shape[0], dtype=np.int64)
    for k, ref in enumerate(products):
        at = np.flatnonzero(product == k)
        if not at.shape[0]:
            continue
        p = ref.product
        dated = CAP_PROFILES[p.cap_profile].lpr_multiple is not None  # the cap depends on the contract date
        keys = np.stack([rate[at], disbursed[at] if dated else np.zeros(at.shape[0], dtype=np.int64)])
        unique, inverse = np.unique(keys, axis=1, return_inverse=True)
        values = []
        for r, day in unique.T.tolist():
            annual = Decimal(r).scaleb(-6)
            on = np.datetime64(day, "D").item()
            capped = collectable_rates(p.cap_profile, annual, quantize_rate(annual * p.penalty_multiplier), on)
            values.append(rate_ppm(capped.penalty_rate_annual))
        out[at] = np.array(values, dtype=np.int64)[inverse.ravel()]
    return out


def _assign_borrowers(rng: np.random.Generator, product: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Borrower of each loan (about one in ten has two loans) and which borrowers are enterprises.

    Borrowers are numbered in the order of their first loan.
    """
    firm_loan = np.array([m.enterprise for m in PRODUCT_MIX])[product]
    owner = np.empty(product.shape[0], dtype=np.int64)
    kinds = []
    offset = 0
    for group, is_firm in ((~firm_loan, False), (firm_loan, True)):
        loans = rng.permutation(np.flatnonzero(group))
        m = loans.shape[0]
        b = max(1, round(m / (1 + TWO_LOAN_SHARE))) if m else 0
        ids = np.concatenate([np.arange(b), rng.choice(b, size=m - b, replace=False)]) if m else np.empty(0)
        owner[loans] = ids.astype(np.int64) + offset
        kinds.append(np.full(b, is_firm))
        offset += b
    enterprise = np.concatenate(kinds)
    first = np.full(offset, product.shape[0], dtype=np.int64)
    np.minimum.at(first, owner, np.arange(product.shape[0]))
    rank = np.empty(offset, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(offset)
    renumbered = np.empty(offset, dtype=bool)
    renumbered[rank] = enterprise
    return rank[owner], renumbered


def _with_borrower(loans: Loans, borrower: I64) -> Loans:
    fields = {f: getattr(loans, f) for f in Loans.__dataclass_fields__}
    fields["borrower"] = borrower
    return Loans(**fields)


# ---------------------------------------------------------------- ledger


def _lay_out_ledger(loans: Loans, outcome: Outcome, as_of_day: int) -> tuple[Ledger, I64]:
    """Per loan: the disbursement, then its payments by date; the journal adds one accrual entry.

    The accrual entry recognises the interest and the penalty and compound interest charged up to
    the business date, so that each loan's journal sums to `daihou.domain.loan.position`.
    """
    n = len(loans)
    pay = outcome.payments
    m = len(pay)
    n_pay = np.bincount(pay.loan, minlength=n)
    pay_first = np.searchsorted(pay.loan, np.arange(n))
    seq = np.arange(m) - pay_first[pay.loan]  # 0, 1, … within each loan

    tx_off = _offsets(1 + n_pay)
    tx_total = int(tx_off[-1])
    tx_loan = np.repeat(np.arange(n), 1 + n_pay)
    tx_payment = np.full(tx_total, -1, dtype=np.int64)
    pay_tx = tx_off[pay.loan] + 1 + seq
    tx_payment[pay_tx] = np.arange(m)
    tx_day = np.empty(tx_total, dtype=np.int64)
    tx_amount = np.empty(tx_total, dtype=np.int64)
    tx_day[tx_off[:-1]], tx_amount[tx_off[:-1]] = loans.disbursed, loans.principal_fen
    tx_day[pay_tx], tx_amount[pay_tx] = pay.day, pay.amount

    accrued, charged = outcome.interest_accrued_fen, outcome.penalty_charged_fen
    has_accrual = ((accrued != 0) | (charged != 0)).astype(np.int64)
    e_off = _offsets(1 + n_pay + has_accrual)
    e_total = int(e_off[-1])
    entry_loan = np.repeat(np.arange(n), 1 + n_pay + has_accrual)
    entry_kind = np.full(e_total, ENTRY_PAYMENT, dtype=np.int64)
    entry_tx = np.full(e_total, -1, dtype=np.int64)
    entry_day = np.empty(e_total, dtype=np.int64)
    disb_e, pay_e = e_off[:-1], e_off[pay.loan] + 1 + seq
    accrual_loans = np.flatnonzero(has_accrual)
    accrual_e = e_off[accrual_loans] + 1 + n_pay[accrual_loans]
    entry_kind[disb_e], entry_kind[accrual_e] = ENTRY_DISBURSEMENT, ENTRY_ACCRUAL
    entry_tx[disb_e], entry_tx[pay_e] = tx_off[:-1], pay_tx
    entry_day[disb_e], entry_day[pay_e], entry_day[accrual_e] = loans.disbursed, pay.day, as_of_day

    # up to four lines an entry: accounts and amounts (debit > 0), zero lines dropped
    a = {acct: ACCOUNTS.index(acct) for acct in ACCOUNTS}
    accounts = np.zeros((e_total, 4), dtype=np.int64)
    amounts = np.zeros((e_total, 4), dtype=np.int64)
    accounts[disb_e, :2] = (a[Account.PRINCIPAL_RECEIVABLE], a[Account.CASH])
    amounts[disb_e, 0], amounts[disb_e, 1] = loans.principal_fen, -loans.principal_fen
    accounts[pay_e] = (
        a[Account.CASH],
        a[Account.PRINCIPAL_RECEIVABLE],
        a[Account.INTEREST_RECEIVABLE],
        a[Account.PENALTY_RECEIVABLE],
    )
    amounts[pay_e] = np.stack([pay.amount, -pay.principal, -pay.interest, -pay.penalty], axis=1)
    accounts[accrual_e] = (
        a[Account.INTEREST_RECEIVABLE],
        a[Account.PENALTY_RECEIVABLE],
        a[Account.INTEREST_INCOME],
        a[Account.PENALTY_INCOME],
    )
    acc, chg = accrued[accrual_loans], charged[accrual_loans]
    amounts[accrual_e] = np.stack([acc, chg, -acc, -chg], axis=1)
    assert not amounts.sum(axis=1).any(), "every journal entry balances"
    keep = (amounts != 0).ravel()
    line_entry = np.repeat(np.arange(e_total), 4)[keep]
    ledger = Ledger(
        tx_loan=tx_loan,
        tx_payment=tx_payment,
        tx_day=tx_day,
        tx_amount=tx_amount,
        entry_loan=entry_loan,
        entry_kind=entry_kind,
        entry_tx=entry_tx,
        entry_day=entry_day,
        line_entry=line_entry,
        line_loan=entry_loan[line_entry],
        line_account=accounts.ravel()[keep],
        line_amount=amounts.ravel()[keep],
    )
    return ledger, seq + 1


def _offsets(counts: I64) -> I64:
    off = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off
