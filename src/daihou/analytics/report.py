"""The portfolio report: CSV, XLSX and PNG charts from the snapshots (the web dashboard uses the same queries)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from daihou.analytics.portfolio import expected_loss, markov_forecast, roll_rates, snapshot_days, summary, vintage
from daihou.domain.money import yuan_text


@dataclass(frozen=True)
class ReportFiles:
    csv: list[Path]
    xlsx: Path
    charts: list[Path]


def _month_ends(days: list[date]) -> list[date]:
    """The last snapshot day of each month."""
    last: dict[tuple[int, int], date] = {}
    for d in days:
        last[(d.year, d.month)] = max(d, last.get((d.year, d.month), d))
    return sorted(last.values())


def portfolio_report(root: Path, day: date, out: Path) -> ReportFiles:
    """Write the report of business date `day` into `out`; roll rates use the previous month end."""
    days = [d for d in snapshot_days(root) if d <= day]
    if day not in days:
        raise ValueError(f"no snapshot for {day}: run the close of business for that day first")
    out.mkdir(parents=True, exist_ok=True)
    s = summary(root, day)
    sheets: dict[str, list[list[Any]]] = {
        "summary": [
            ["business_date", day.isoformat()],
            ["loans", s.loans],
            ["outstanding", yuan_text(s.outstanding_fen)],
            ["npl", yuan_text(s.npl_fen)],
            ["npl_ratio", round(s.npl_ratio, 6)],
            ["provision", yuan_text(s.provision_fen)],
            ["coverage", round(s.coverage, 6)],
            ["provision_to_loan", round(s.provision_to_loan, 6)],
        ],
        "buckets": [["bucket", "outstanding"]] + [[b, yuan_text(v)] for b, v in sorted(s.by_bucket_fen.items())],
        "classes": [["classification", "outstanding"]] + [[c, yuan_text(v)] for c, v in sorted(s.by_class_fen.items())],
        "expected_loss": [["ifrs9_stage", "loans", "ead", "el"]]
        + [
            [stage, v["loans"], yuan_text(v["ead_fen"]), yuan_text(v["el_fen"])]
            for stage, v in expected_loss(root, day).items()
        ],
    }
    month_ends = _month_ends(days)
    previous = [d for d in month_ends if d < day]
    rates = None
    if previous:
        rates = roll_rates(root, previous[-1], day)
        sheets["roll_rates"] = [["from \\ to", *rates.states]] + [
            [rates.states[i], *(round(float(x), 6) for x in row)] for i, row in enumerate(rates.matrix)
        ]
        forecast = markov_forecast(rates, {k: float(v) for k, v in s.by_bucket_fen.items()}, steps=6)
        sheets["forecast"] = [["step", *rates.states]] + [
            [k + 1, *(yuan_text(round(p[st])) for st in rates.states)] for k, p in enumerate(forecast)
        ]
    curves = vintage(root, [*month_ends[:-1], day] if month_ends else [day]).to_pylist()
    sheets["vintage_30plus"] = [["vintage", "mob", "ever_30plus_share"]] + [
        [r["vintage"], r["mob"], round(r["ever_bad_share"], 6)] for r in curves
    ]
    csv_files = []
    for name, rows in sheets.items():
        path = out / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8-sig") as f:
            csv.writer(f).writerows(rows)
        csv_files.append(path)
    xlsx = out / f"portfolio-{day.isoformat()}.xlsx"
    _xlsx(xlsx, sheets)
    return ReportFiles(csv_files, xlsx, _charts(out, s.by_bucket_fen, rates, curves))


def _xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)


def _charts(out: Path, buckets: dict[str, int], rates: Any, curves: list[dict[str, Any]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(7, 4))
    names = sorted(buckets)
    ax.bar(names, [buckets[n] / 100 for n in names])
    ax.set_title("Outstanding principal by bucket (yuan)")
    files.append(out / "buckets.png")
    fig.savefig(files[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    if rates is not None:
        fig, ax = plt.subplots(figsize=(7, 5))
        ax.imshow(rates.matrix, cmap="Reds", vmin=0, vmax=1)
        ax.set_xticks(range(len(rates.states)), rates.states, rotation=45)
        ax.set_yticks(range(rates.matrix.shape[0]), rates.states[: rates.matrix.shape[0]])
        ax.set_title(f"Roll rates {rates.start} → {rates.end}")
        files.append(out / "roll_rates.png")
        fig.savefig(files[-1], dpi=110, bbox_inches="tight")
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    for v in sorted({r["vintage"] for r in curves}):
        pts = sorted((r["mob"], r["ever_bad_share"]) for r in curves if r["vintage"] == v)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=v)
    ax.set_xlabel("months on book")
    ax.set_ylabel("ever 30+ share")
    ax.set_title("Vintage curves")
    if len({r["vintage"] for r in curves}) <= 12:
        ax.legend(fontsize=7)
    files.append(out / "vintage.png")
    fig.savefig(files[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    return files
