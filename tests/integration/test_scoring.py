"""Scoring the book inside the close of business: behaviour features, loan_scores, cadence, monitoring."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from daihou.batch.cob.runner import DayDone
from daihou.bootstrap import App
from daihou.config import Settings
from daihou.domain.parties import Borrower, PartyKind
from daihou.risk import behaviour
from daihou.risk.registry import Registry
from daihou.risk.train import TrainSpec, train
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage.score_tables import loan_scores
from daihou.storage.tables import loans
from daihou.workflow import scoring

D = date.fromisoformat
TODAY = D("2025-06-10")
PRINCIPAL = 1_200_000


def _training_frame(rows: int = 4000, seed: int = 7) -> pd.DataFrame:
    """Behaviour features with a known structure: arrears and low payment ratios go bad."""
    rng = np.random.default_rng(seed)
    delay = rng.choice([0, 0, 0, 0, 1, 2, 3, 4], size=rows)
    frame = pd.DataFrame(
        {
            "delay_now": delay,
            "max_delay_3m": delay + rng.integers(0, 2, rows),
            "max_delay_6m": delay + rng.integers(0, 3, rows),
            "months_delayed_6m": np.minimum(6, delay + rng.integers(0, 2, rows)),
            "payment_ratio_3m": np.clip(1.0 - 0.25 * delay + rng.normal(0, 0.2, rows), 0, 2),
            "utilisation": rng.uniform(0, 1, rows),
            "balance_trend_3m": rng.uniform(0.8, 1.2, rows),
        }
    )
    log_odds = -2.5 + 0.9 * delay - 1.0 * frame["payment_ratio_3m"]
    frame[behaviour.TARGET] = (rng.random(rows) < 1 / (1 + np.exp(-log_odds))).astype(int)
    return frame


@pytest.fixture(scope="module")
def trained() -> Any:
    return train(_training_frame(), TrainSpec(target=behaviour.TARGET, seed=1))


@pytest.fixture
def book(app: App, tmp_path: Path, trained: Any) -> App:
    """Three loans disbursed 2025-01-15: GOOD pays every instalment, LATE paid two then stopped, BAD never paid;
    closed on TODAY, with the month-end snapshots before it, and a behaviour model deployed as `bcard`."""
    application = App(
        Settings(database_url=app.settings.database_url, data_dir=tmp_path / "data"), app.engine, app.clock
    )
    with application.uow() as uow:
        uow.borrowers.add(Borrower("B1", PartyKind.INDIVIDUAL, "张三丰", "11010519491231002X", "13812345678"))
        uow.commit()
    for loan_no in ("GOOD", "LATE", "BAD"):
        cmd = BookLoan(loan_no, "B1", PRINCIPAL, Decimal("0.12"), 12, D("2025-01-15"), "STD")
        assert ledger.book_loan(application.uow(), cmd).code == "accepted"
    level = _level_payment(application, "GOOD")
    for n, due in enumerate(("2025-02-15", "2025-03-15", "2025-04-15", "2025-05-15"), start=1):
        assert ledger.post_payment(application.uow(), "GOOD", level, D(due), f"G{n}").ok
        if n <= 2:
            assert ledger.post_payment(application.uow(), "LATE", level, D(due), f"L{n}").ok
    [done] = application.run_cob([TODAY], "duckdb")
    assert isinstance(done, DayDone), done
    registry = Registry(application.settings.data_dir)
    registry.save("bcard_test", trained.model, trained.card, {"target": behaviour.TARGET})
    registry.deploy("bcard", "bcard_test", None, "tester", "2025-06-01T00:00:00")
    return application


def _level_payment(app: App, loan_no: str) -> int:
    with app.engine.connect() as conn:
        loan_id = conn.execute(select(loans.c.id).where(loans.c.loan_no == loan_no)).scalar_one()
        rows = conn.exec_driver_sql(
            f"SELECT principal_due_fen + interest_due_fen FROM installments WHERE loan_id = {loan_id} AND no = 2"
        ).scalar_one()
    return int(rows)


def _ids(app: App) -> dict[str, int]:
    with app.engine.connect() as conn:
        return {n: i for i, n in conn.execute(select(loans.c.id, loans.c.loan_no)).all()}


def _write_month_ends(app: App, rows: dict[str, dict[str, tuple[int, int]]]) -> None:
    """Month-end snapshots: {day: {loan_no: (dpd, outstanding principal)}} — the columns the features read."""
    ids = _ids(app)
    for day, by_loan in rows.items():
        table = pa.table(
            {
                "loan_id": pa.array([ids[n] for n in by_loan], pa.int64()),
                "status": pa.array(["overdue" if v[0] else "active" for v in by_loan.values()]),
                "outstanding_principal_fen": pa.array([v[1] for v in by_loan.values()], pa.int64()),
                "dpd": pa.array([v[0] for v in by_loan.values()], pa.int64()),
                "principal_fen": pa.array([PRINCIPAL] * len(by_loan), pa.int64()),
            }
        )
        folder = app.settings.data_dir / "snapshots" / f"business_date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "part-0.parquet")


def test_month_ends_before_a_day_are_the_last_days_of_the_months_before_it() -> None:
    from daihou.storage.score_store import is_month_end, month_ends_before

    assert month_ends_before(D("2025-03-01"), 3) == [D("2025-02-28"), D("2025-01-31"), D("2024-12-31")]
    assert month_ends_before(D("2024-03-31"), 2) == [D("2024-02-29"), D("2024-01-31")]
    assert is_month_end(D("2024-02-29")) and not is_month_end(D("2025-02-27"))


def test_behaviour_features_come_from_the_month_end_snapshots_the_payments_and_the_schedule(book: App) -> None:
    _write_month_ends(
        book,
        {  # what the book looked like at the five month-ends before TODAY (LATE and BAD missed from February)
            "2025-05-31": {"GOOD": (0, 800_000), "LATE": (47, 1_000_000), "BAD": (105, PRINCIPAL)},
            "2025-04-30": {"GOOD": (0, 900_000), "LATE": (16, 1_000_000), "BAD": (74, PRINCIPAL)},
            "2025-03-31": {"GOOD": (0, 1_000_000), "LATE": (0, 1_000_000), "BAD": (44, PRINCIPAL)},
            "2025-02-28": {"GOOD": (0, 1_100_000), "LATE": (0, 1_100_000), "BAD": (13, PRINCIPAL)},
        },
    )
    features = scoring.book_features(book, TODAY)
    ids = _ids(book)
    good, late, bad = (features.loc[ids[n]] for n in ("GOOD", "LATE", "BAD"))
    with book.engine.connect() as conn:
        dpd = dict(conn.execute(select(loans.c.loan_no, loans.c.dpd)).all())
    assert dpd["BAD"] == (TODAY - D("2025-02-15")).days and dpd["LATE"] == (TODAY - D("2025-04-15")).days
    assert bad["delay_now"] == -(-dpd["BAD"] // 30) == 4
    assert bad["max_delay_3m"] == 4 and bad["max_delay_6m"] == 4  # 105 days on 05-31 → 4 months
    assert bad["months_delayed_6m"] == 5  # four month-ends in arrears, and today
    assert bad["payment_ratio_3m"] == 0.0 and bad["utilisation"] == 1.0
    assert bad["balance_trend_3m"] == 1.0  # the same principal as on 03-31, three month-ends back
    assert late["delay_now"] == 2 and late["max_delay_3m"] == 2 and late["months_delayed_6m"] == 3
    assert late["payment_ratio_3m"] == 0.0  # April and May fell due after 03-31; nothing paid since
    assert good["delay_now"] == good["max_delay_6m"] == good["months_delayed_6m"] == 0
    assert good["payment_ratio_3m"] == 1.0  # the April and May instalments, paid when due
    with book.engine.connect() as conn:
        outstanding = int(
            conn.exec_driver_sql(
                "SELECT SUM(principal_due_fen - principal_paid_fen - principal_waived_fen) FROM installments"
                f" WHERE loan_id = {ids['GOOD']}"
            ).scalar_one()
        )
    assert good["utilisation"] == pytest.approx(outstanding / PRINCIPAL)
    assert good["balance_trend_3m"] == pytest.approx(outstanding / 1_000_000)


def test_without_earlier_snapshots_the_features_fall_back_to_todays_state(book: App) -> None:
    features = scoring.book_features(book, TODAY)
    bad = features.loc[_ids(book)["BAD"]]
    assert bad["max_delay_6m"] == bad["delay_now"] == 4 and bad["months_delayed_6m"] == 1
    assert bad["balance_trend_3m"] == 1.0


def test_scoring_the_book_writes_one_score_per_open_loan_and_a_rerun_replaces_them(book: App) -> None:
    counts = scoring.score_book(book, TODAY)
    assert counts == {"scored_bcard": 3}
    assert scoring.score_book(book, TODAY, force=True) == {"scored_bcard": 3}
    with book.engine.connect() as conn:
        rows = conn.execute(select(loans.c.loan_no, loan_scores.c.score, loan_scores.c.pd_ppm).join(loans)).all()
        assert conn.execute(select(func.count()).select_from(loan_scores)).scalar_one() == 3
    by_loan = {n: (s, p) for n, s, p in rows}
    assert by_loan["BAD"][1] > by_loan["LATE"][1] > by_loan["GOOD"][1]  # arrears raise the PD …
    assert by_loan["BAD"][0] < by_loan["GOOD"][0]  # … and lower the points
    registry = Registry(book.settings.data_dir)
    expected = registry.load_model("bcard_test").score(scoring.book_features(book, TODAY)[list(behaviour.FEATURES)])
    assert sorted(s for s, _ in by_loan.values()) == sorted(np.rint(expected.score).astype(int).tolist())


def test_the_close_of_business_scores_at_month_end_and_not_on_other_days(book: App) -> None:
    [first] = book.run_cob([TODAY + timedelta(days=1)], "duckdb")
    assert isinstance(first, DayDone) and first.counts["scored_bcard"] == 3  # never scored yet
    days = [TODAY + timedelta(days=n) for n in range(2, 22)]  # 06-12 … 07-01
    done = book.run_cob(days, "duckdb")
    scored = [d.business_date for d in done if isinstance(d, DayDone) and "scored_bcard" in d.counts]
    assert scored == [D("2025-06-30")]


def test_monitoring_compares_the_scored_book_with_development_and_rates_it(book: App) -> None:
    scoring.score_book(book, TODAY)
    report = scoring.monitor(book, "bcard", TODAY)
    assert report["loans"] == 3 and report["model"] == "bcard_test"
    assert set(report["csi"]) <= set(behaviour.FEATURES) and report["csi"]
    assert report["score_psi"] > 0.25 and report["warning"] == "red"  # three loans are nothing like development
    with pytest.raises(LookupError, match="no scores"):
        scoring.monitor(book, "bcard", TODAY - timedelta(days=1))


def test_a_uci_account_maps_to_the_behaviour_features() -> None:
    row = {f"PAY_{k}": v for k, v in zip((0, 2, 3, 4, 5, 6), (2, 1, -1, 0, 3, -2), strict=True)}
    row |= {f"BILL_AMT{k}": v for k, v in zip(range(1, 7), (5000, 4000, 3000, 2500, 0, 0), strict=True)}
    row |= {f"PAY_AMT{k}": v for k, v in zip(range(1, 7), (1000, 500, 0, 0, 0, 0), strict=True)}
    row |= {"LIMIT_BAL": 10000, "default.payment.next.month": 1}
    mapped = behaviour.from_uci(pd.DataFrame([row])).iloc[0]
    assert mapped["delay_now"] == 2 and mapped["max_delay_3m"] == 2 and mapped["max_delay_6m"] == 3
    assert mapped["months_delayed_6m"] == 3
    assert mapped["payment_ratio_3m"] == pytest.approx(1500 / 9500)
    assert mapped["utilisation"] == 0.5 and mapped["balance_trend_3m"] == 2.0 and mapped["bad"] == 1


def test_collection_features_cover_past_due_loans_only_and_labels_read_the_next_30_days(book: App) -> None:
    from daihou.risk import collection

    ids = _ids(book)
    features = scoring.book_features(book, TODAY, "collection")
    assert set(features.index) == {ids["LATE"], ids["BAD"]}  # GOOD is not past due
    late = features.loc[ids["LATE"]]
    assert late["dpd"] == (TODAY - D("2025-04-15")).days and 0 < late["overdue_share"] < 1
    assert late["paid_30d_share"] == 0.0
    raw = scoring._store(book).behaviour(TODAY)
    owed = int(raw.loc[ids["LATE"], "overdue"])
    assert owed > 0
    # LATE pays everything past due 10 days later; BAD pays a little
    assert ledger.post_payment(book.uow(), "LATE", owed, TODAY + timedelta(days=10), "L-CURE").ok
    assert ledger.post_payment(book.uow(), "BAD", 100, TODAY + timedelta(days=40), "B-LATE").ok
    frame = scoring.training_frame(book, TODAY, "collection")
    assert frame.loc[ids["LATE"], collection.TARGET] == 0 and frame.loc[ids["BAD"], collection.TARGET] == 1
    with pytest.raises(ValueError, match="not yet past"):
        scoring.training_frame(book, book.today() - timedelta(days=5), "collection")


def test_behaviour_labels_are_ever_90_days_past_due_in_the_next_twelve_months(book: App) -> None:
    _write_month_ends(book, {"2025-09-30": {"GOOD": (0, 500_000), "LATE": (60, 1_000_000), "BAD": (227, PRINCIPAL)}})
    frame = scoring.training_frame(book, TODAY, "behaviour")
    ids = _ids(book)
    assert [int(frame.loc[ids[n], "bad"]) for n in ("GOOD", "LATE", "BAD")] == [0, 0, 1]


def test_a_deployed_collection_score_is_written_daily_for_past_due_loans(book: App) -> None:
    from daihou.risk import collection

    rng = np.random.default_rng(3)
    rows = 3000
    dpd = rng.integers(1, 200, rows)
    frame = pd.DataFrame(
        {
            "delay_now": np.ceil(dpd / 30).astype(int),
            "dpd": dpd,
            "months_delayed_6m": np.minimum(6, np.ceil(dpd / 30)).astype(int),
            "payment_ratio_3m": rng.uniform(0, 1, rows),
            "overdue_share": rng.uniform(0, 1, rows),
            "paid_30d_share": rng.uniform(0, 1, rows),
            "utilisation": rng.uniform(0, 1, rows),
        }
    )
    frame[collection.TARGET] = (rng.random(rows) < 1 / (1 + np.exp(1.5 - dpd / 60))).astype(int)
    fitted = train(frame, TrainSpec(target=collection.TARGET, seed=2))
    registry = Registry(book.settings.data_dir)
    registry.save("ccard_test", fitted.model, fitted.card, {"target": collection.TARGET})
    registry.deploy("ccard", "ccard_test", None, "tester", "2025-06-01T00:00:00")
    counts = scoring.score_book(book, TODAY)
    assert counts == {"scored_bcard": 3, "scored_ccard": 2}
    [next_day] = book.run_cob([TODAY + timedelta(days=1)], "duckdb")
    assert isinstance(next_day, DayDone) and next_day.counts["scored_ccard"] == 2  # daily, unlike the B-card
    assert "scored_bcard" not in next_day.counts
