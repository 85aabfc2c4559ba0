"""`daihou model …`: train PD models on a CSV, keep them versioned, read their cards, score files.

Mounted by the main app as `app.add_typer(model_app, name="model")`; `ctx.obj` is the
`bootstrap.App`, of which only `settings.data_dir` (the registry lives in `<data_dir>/models/`)
and the clock (the artefact's timestamp) are used. `daihou.risk` pulls in optbinning, LightGBM
and matplotlib, so it is imported inside the commands: other `daihou` commands stay fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from daihou.risk.registry import Registry

model_app = typer.Typer(no_args_is_help=True, help="PD models (评分卡/模型): train, list, card, score.")
console = Console()
err = Console(stderr=True)
KINDS = ("scorecard", "lgbm")


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _registry(ctx: typer.Context) -> Registry:
    from daihou.risk.registry import Registry

    return Registry(Path(ctx.obj.settings.data_dir))


def _columns(values: list[str] | None) -> tuple[str, ...]:
    """`--id-columns A --id-columns B` and `--id-columns A,B` both work."""
    return tuple(part.strip() for value in values or [] for part in value.split(",") if part.strip())


def _read(path: Path) -> Any:
    from daihou.risk.train import read_table

    if not path.is_file():
        _fail(f"{path}: no such file", 2)
    try:
        return read_table(path)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(f"{path}: cannot read as CSV ({exc})", 2)


@model_app.command("train")
def train_cmd(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", help="CSV with a header row.")],
    target: Annotated[str, typer.Option("--target", help="The 0/1 column to predict (1 = bad).")],
    kind: Annotated[str, typer.Option(help="scorecard | lgbm")] = "scorecard",
    seed: Annotated[int, typer.Option(help="Seed of the stratified 70/30 split (and of LightGBM).")] = 42,
    id_columns: Annotated[
        list[str] | None, typer.Option("--id-columns", help="Columns that are not features (repeat or comma-separate).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Registry name (default: <file stem>_<kind>).")] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Keep the model in the registry.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Fit a scorecard or the LightGBM challenger and report hold-out AUC, KS and Gini."""
    if kind not in KINDS:
        _fail(f"unknown kind {kind!r}; use {' or '.join(KINDS)}", 2)
    from daihou.risk.card import write_charts
    from daihou.risk.registry import RegistryError, library_versions, sha256_file
    from daihou.risk.train import DataError, TrainSpec, train

    frame = _read(data)
    spec = TrainSpec(target=target, kind=kind, seed=seed, id_columns=_columns(id_columns))
    try:
        result = train(frame, spec)
    except DataError as exc:
        _fail(f"{exc.code}: {exc.message}", 2)
    out: dict[str, Any] = {
        **result.metrics,
        "kind": kind,
        "target": target,
        "seed": seed,
        "test_size": spec.test_size,
        "features": list(result.model.features),
        "dropped_columns": result.card["dropped_columns"],
        "model": None,
    }
    if save:
        model_name = name or f"{data.stem}_{kind}"
        metadata = {
            "created_at": ctx.obj.clock.now().isoformat(timespec="seconds"),
            "target": target,
            "id_columns": list(spec.id_columns),
            "seed": seed,
            "test_size": spec.test_size,
            "data": {"file": data.name, "sha256": sha256_file(data), "rows": len(frame), "columns": len(frame.columns)},
            "libraries": library_versions(),
        }
        try:
            entry = _registry(ctx).save(
                model_name, result.model, result.card, metadata, lambda folder: write_charts(folder, result.evaluation)
            )
        except RegistryError as exc:
            _fail(f"{exc.code}: {exc.message}", 2)
        out["model"] = {"name": entry.name, "version": entry.version, "path": str(entry.path)}
    if as_json:
        _print_json(out)
        return
    table = Table(title=f"{kind} on {data.name} — hold-out ({spec.test_size:.0%}, seed {seed})")
    for column in ("AUC", "KS", "Gini", "train rows", "test rows", "score PSI"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{out['auc']:.4f}",
        f"{out['ks']:.4f}",
        f"{out['gini']:.4f}",
        str(out["n_train"]),
        str(out["n_test"]),
        f"{out['score_psi']:.4f}",
    )
    console.print(table)
    if out["model"]:
        console.print(f"saved as {out['model']['name']} version {out['model']['version']} in {out['model']['path']}")


@model_app.command("list")
def list_cmd(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every model version in the registry."""
    entries = _registry(ctx).entries()
    if as_json:
        _print_json(
            {
                "models": [
                    {"name": e.name, "version": e.version, "kind": e.kind, "created_at": e.created_at, "auc": e.auc}
                    for e in entries
                ]
            }
        )
        return
    if not entries:
        console.print("no models yet: train one with `daihou model train`")
        return
    table = Table()
    table.add_column("name", no_wrap=True)
    for column in ("version", "kind", "created", "AUC"):
        table.add_column(column, no_wrap=True)
    for e in entries:
        created = e.created_at[:16].replace("T", " ")
        table.add_row(e.name, str(e.version), e.kind, created, "" if e.auc is None else f"{e.auc:.4f}")
    console.print(table)


@model_app.command("card")
def card_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A model's card: hold-out metrics, calibration, stability, information value."""
    from daihou.risk.registry import RegistryError

    registry = _registry(ctx)
    try:
        card = registry.card(name, version)
        path = registry.path(name, version)
    except RegistryError as exc:
        _fail(f"{exc.code}: {exc.message}", 1)
    if as_json:
        _print_json({**card, "path": str(path)})
        return
    m = card["metrics"]
    console.print(f"[bold]{card['name']}[/bold] version {card['version']} ({card['kind']}), target {card['target']}")
    console.print(
        f"hold-out AUC {m['auc']:.4f}  KS {m['ks']:.4f}  Gini {m['gini']:.4f}  "
        f"(train {m['n_train']} rows, test {m['n_test']} rows; train AUC {m['auc_train']:.4f})"
    )
    stability = card["stability"]
    console.print(f"score PSI development vs validation {stability['score_psi']:.4f} ({stability['score_psi_rating']})")
    calibration = Table(title="calibration by decile (hold-out)")
    for column in ("decile", "rows", "predicted PD", "observed rate"):
        calibration.add_column(column, justify="right")
    for row in card["calibration"]:
        calibration.add_row(
            str(row["group"]), str(row["n"]), f"{row['predicted_pd']:.4f}", f"{row['observed_rate']:.4f}"
        )
    console.print(calibration)
    variables = Table(title="variables")
    for column in ("variable", "IV", "CSI", "in model"):
        variables.add_column(column)
    features = set(card["features"])
    for variable, iv in card["information_value"].items():
        csi = stability["csi"].get(variable, {})
        variables.add_row(
            variable,
            f"{iv:.4f}",
            f"{csi.get('csi', 0):.4f} ({csi.get('rating', '?')})",
            "yes" if variable in features else "",
        )
    console.print(variables)
    console.print(f"charts: {', '.join(str(path / 'charts' / c) for c in card['charts'])}")


@model_app.command("score")
def score_cmd(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="Model name in the registry.")],
    data: Annotated[Path, typer.Option("--data", help="CSV with the model's feature columns.")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write: ids, pd, score, points, reason codes.")],
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score every row of a CSV: PD, points, and the top three reason codes."""
    from daihou.risk.registry import RegistryError
    from daihou.risk.scoring import ScoringError, score_table

    registry = _registry(ctx)
    try:
        fitted = registry.load_model(model, version)
        meta = registry.metadata(model, version)
        card = registry.card(model, version)
    except RegistryError as exc:
        _fail(f"{exc.code}: {exc.message}", 1)
    frame = _read(data)
    try:
        scored, summary = score_table(fitted, frame, meta.get("id_columns", []), card)
    except ScoringError as exc:
        _fail(f"{exc.code}: {exc.message}", 2)
    out.parent.mkdir(parents=True, exist_ok=True)
    scored.to_csv(out, index=False, encoding="utf-8")
    report = {"model": model, "version": meta["version"], "out": str(out), **summary}
    if as_json:
        _print_json(report)
        return
    console.print(
        f"scored {summary['rows']} rows with {model} version {meta['version']} → {out}; "
        f"mean PD {summary['mean_pd']:.4f}; "
        f"score PSI against development {summary['score_psi']:.4f} ({summary['score_psi_rating']})"
    )


@model_app.command("features")
def features_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="CSV to write: one row per loan (or account) and feature.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Business date of the book's features.")] = None,
    kind: Annotated[str, typer.Option(help="behaviour (B卡, open loans) | collection (C卡, past-due loans)")] = (
        "behaviour"
    ),
    label: Annotated[
        bool, typer.Option("--label", help="Add the `bad` label from what happened after --as-of (for training).")
    ] = False,
    uci: Annotated[
        Path | None, typer.Option("--uci", help="Map the UCI credit-card file to the behaviour features (with `bad`).")
    ] = None,
) -> None:
    """Score features of the book at a closed business date (optionally labelled), or of the UCI data."""
    from daihou.workflow.scoring import FEATURE_SETS

    if kind not in FEATURE_SETS:
        _fail(f"unknown kind {kind!r}; use {' or '.join(FEATURE_SETS)}", 2)
    if (as_of is None) == (uci is None):
        _fail("give exactly one of --as-of (the book) or --uci FILE (training data)", 2)
    if uci is not None:
        from daihou.risk import behaviour

        if kind != "behaviour":
            _fail("--uci maps to the behaviour features only", 2)
        frame = behaviour.from_uci(_read(uci))
    else:
        from datetime import date

        from daihou.workflow.scoring import book_features, training_frame

        try:
            day = date.fromisoformat(str(as_of))
        except ValueError:
            _fail(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)", 2)
        try:
            frame = training_frame(ctx.obj, day, kind) if label else book_features(ctx.obj, day, kind)
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc), 1)
        frame = frame.reset_index()
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, encoding="utf-8")
    console.print(f"wrote {len(frame)} rows of {kind} features to {out}")


@model_app.command("deploy")
def deploy_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name in the registry.")],
    role: Annotated[str, typer.Option("--as", help="Role the close of business scores with: bcard | ccard.")] = (
        "bcard"
    ),
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    by: Annotated[str, typer.Option("--by", help="Who deploys it (kept with the deployment).")] = "cli",
) -> None:
    """Deploy a model: the close of business scores every open loan with it on the role's cadence."""
    from daihou.risk.registry import RegistryError
    from daihou.workflow.scoring import FEATURE_SETS, load_policy

    policy = next((p for p in load_policy() if p.role == role), None)
    if policy is None:
        _fail(f"no scoring policy for role {role!r}", 2)
    registry = _registry(ctx)
    try:
        features = registry.load_model(name, version).features
        missing = [f for f in features if f not in FEATURE_SETS[policy.features].FEATURES]
        if missing:
            _fail(f"{name} reads {', '.join(missing)}, which the book does not have; train on `model features`", 2)
        d = registry.deploy(role, name, version, by, ctx.obj.clock.now().isoformat(timespec="seconds"))
    except RegistryError as exc:
        _fail(f"{exc.code}: {exc.message}", 1)
    console.print(f"{d.name} version {d.version} deployed as {d.role} by {d.by}")


@model_app.command("score-book")
def score_book_cmd(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="A closed business date.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Score every open loan now with the deployed models (the close of business does it on its cadence)."""
    from datetime import date

    from daihou.workflow.scoring import score_book

    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        _fail(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)", 2)
    try:
        counts = score_book(ctx.obj, day, force=True)
    except FileNotFoundError as exc:
        _fail(str(exc), 1)
    if not counts:
        _fail("no model is deployed: run `daihou model deploy NAME --as bcard`", 1)
    if as_json:
        _print_json(counts)
        return
    for key, n in counts.items():
        console.print(f"{key.removeprefix('scored_')}: {n} loans scored for {day}")


@model_app.command("monitor")
def monitor_cmd(
    ctx: typer.Context,
    as_of: Annotated[str, typer.Option("--as-of", help="A business date the role was scored on.")],
    role: Annotated[str, typer.Option("--role")] = "bcard",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Stability of the deployed model on the book: score PSI and feature CSI, amber ≥ 0.10, red ≥ 0.25."""
    from datetime import date

    from daihou.workflow.scoring import monitor

    try:
        report = monitor(ctx.obj, role, date.fromisoformat(as_of))
    except ValueError:
        _fail(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)", 2)
    except (LookupError, FileNotFoundError) as exc:
        _fail(str(exc), 1)
    if as_json:
        _print_json(report)
    else:
        table = Table(title=f"{report['model']} v{report['version']} on {report['loans']} loans, {as_of}")
        for column in ("measure", "value", "rating"):
            table.add_column(column)
        table.add_row("score PSI", f"{report['score_psi']:.4f}", report["score_psi_rating"])
        for name, c in report["csi"].items():
            table.add_row(f"CSI {name}", f"{c['csi']:.4f}", c["rating"])
        console.print(table)
    if report["warning"] != "green":
        err.print(f"[yellow]warning:[/yellow] {role} stability is {report['warning']}")
        raise typer.Exit(3 if report["warning"] == "red" else 0)
