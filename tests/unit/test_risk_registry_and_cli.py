"""`daihou model …` end to end on a small synthetic file: train, list, card, score, versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from daihou.cli.model_cmd import model_app
from daihou.risk.registry import Registry, RegistryError
from daihou.risk.synthetic import credit_sample

runner = CliRunner()


def _root(data_dir: Path) -> typer.Typer:
    """The model sub-app mounted the way the main app mounts it, with a stand-in for bootstrap.App."""
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        clock = SimpleNamespace(now=lambda: datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
        ctx.obj = SimpleNamespace(settings=SimpleNamespace(data_dir=data_dir), clock=clock)

    root.add_typer(model_app, name="model")
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[typer.Typer, Path, Path]:
    folder = tmp_path_factory.mktemp("models")
    data = folder / "applicants.csv"
    credit_sample(2500, seed=11).to_csv(data, index=False)
    return _root(folder / "var"), data, folder / "var"


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_train_prints_the_hold_out_metrics_and_saves_version_1(workspace):
    app, data, var = workspace
    out = _json(
        runner.invoke(
            app,
            ["model", "train", "--data", str(data), "--target", "bad", "--id-columns", "applicant_no", "--json"],
        )
    )
    assert {"auc", "ks", "gini", "n_train", "n_test"} <= set(out)
    assert (out["n_train"], out["n_test"], out["seed"]) == (1750, 750, 42)
    assert out["model"]["name"] == "applicants_scorecard" and out["model"]["version"] == 1
    folder = var / "models" / "applicants_scorecard" / "1"
    assert {p.name for p in folder.iterdir()} == {"model.joblib", "card.json", "metadata.json", "charts"}
    assert sorted(p.name for p in (folder / "charts").iterdir()) == [
        "calibration.png",
        "ks.png",
        "roc.png",
        "score_distribution.png",
    ]
    assert (folder / "charts" / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["created_at"] == "2026-03-01T09:30:00+00:00"
    assert len(meta["data"]["sha256"]) == 64
    assert {"numpy", "pandas", "scikit-learn", "lightgbm", "optbinning", "python"} <= set(meta["libraries"])


def test_training_again_adds_a_version_and_list_shows_both_kinds(workspace):
    app, data, _ = workspace
    base = ["model", "train", "--data", str(data), "--target", "bad", "--id-columns", "applicant_no", "--json"]
    assert _json(runner.invoke(app, [*base, "--name", "twice"]))["model"]["version"] == 1
    assert _json(runner.invoke(app, [*base, "--name", "twice"]))["model"]["version"] == 2
    assert _json(runner.invoke(app, [*base, "--kind", "lgbm"]))["model"]["name"] == "applicants_lgbm"
    listed = _json(runner.invoke(app, ["model", "list", "--json"]))["models"]
    assert {(m["name"], m["version"], m["kind"]) for m in listed} >= {
        ("twice", 1, "scorecard"),
        ("twice", 2, "scorecard"),
        ("applicants_lgbm", 1, "lgbm"),
    }


def test_the_card_has_calibration_stability_information_value_and_the_points_table(workspace):
    app, data, _ = workspace
    runner.invoke(
        app,
        ["model", "train", "--data", str(data), "--target", "bad", "--id-columns", "applicant_no", "--name", "carded"],
    )
    card = _json(runner.invoke(app, ["model", "card", "carded", "--json"]))
    assert card["version"] == 1 and card["kind"] == "scorecard"
    assert [row["group"] for row in card["calibration"]] == list(range(1, 11))
    assert card["stability"]["thresholds"] == {"amber": 0.1, "red": 0.25}
    assert set(card["stability"]["csi"]) == set(card["information_value"])
    assert card["scaling"]["pdo"] == 20.0
    assert {t["variable"] for t in card["points_table"]} == set(card["features"])
    human = runner.invoke(app, ["model", "card", "carded"])
    assert human.exit_code == 0 and "calibration" in human.stdout


def test_score_writes_pd_points_and_reason_codes_for_every_row(workspace, tmp_path):
    app, data, _ = workspace
    runner.invoke(
        app,
        ["model", "train", "--data", str(data), "--target", "bad", "--id-columns", "applicant_no", "--name", "scorer"],
    )
    new = tmp_path / "new.csv"
    credit_sample(300, seed=99).drop(columns=["bad"]).to_csv(new, index=False)
    out = tmp_path / "scored.csv"
    report = _json(
        runner.invoke(app, ["model", "score", "--model", "scorer", "--data", str(new), "--out", str(out), "--json"])
    )
    assert report["rows"] == 300 and report["version"] == 1
    assert report["score_psi_rating"] in {"green", "amber", "red"}
    scored = pd.read_csv(out, keep_default_na=False)
    assert scored["applicant_no"].tolist() == list(range(1, 301))
    assert {"pd", "score", "reason_1", "reason_2", "reason_3"} <= set(scored.columns)
    points = scored[[c for c in scored.columns if c.startswith("points_")]]
    assert (points.sum(axis=1) - scored["score"]).abs().max() < 0.1  # rounded to 0.01 per variable, 0.1 in total
    assert scored["pd"].between(0, 1).all()


def test_a_file_without_the_models_columns_is_refused_with_their_names(workspace, tmp_path):
    app, data, _ = workspace
    runner.invoke(
        app,
        ["model", "train", "--data", str(data), "--target", "bad", "--id-columns", "applicant_no", "--name", "strict"],
    )
    bare = tmp_path / "bare.csv"
    pd.DataFrame({"applicant_no": [1, 2]}).to_csv(bare, index=False)
    result = runner.invoke(
        app, ["model", "score", "--model", "strict", "--data", str(bare), "--out", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert "missing_columns" in result.output and "income" in result.output


def test_a_bad_target_exits_2_and_names_the_problem(workspace):
    app, data, _ = workspace
    result = runner.invoke(app, ["model", "train", "--data", str(data), "--target", "housing", "--no-save"])
    assert result.exit_code == 2
    assert "target_not_binary" in result.output


def test_unknown_models_and_versions_are_refused(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(RegistryError) as unknown:
        registry.path("nothing")
    assert unknown.value.code == "unknown_model"
    with pytest.raises(RegistryError) as bad:
        registry.path("../escape")
    assert bad.value.code == "bad_name"
    app = _root(tmp_path)
    assert runner.invoke(app, ["model", "card", "nothing"]).exit_code == 1
    assert _json(runner.invoke(app, ["model", "list", "--json"])) == {"models": []}
