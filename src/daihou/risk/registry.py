"""Versioned model artefacts on disk: `<data_dir>/models/<name>/<version>/`.

Each version folder holds `model.joblib` (the fitted model), `card.json` (the model card),
`metadata.json` (who/what/when: the training file's sha256, the spec, library versions) and
`charts/*.png`. Versions are 1, 2, 3 … per name and never overwritten: a version is written in a
hidden temporary folder and renamed into place, so a reader never sees half an artefact.

`model.joblib` is a pickle: load only artefacts this installation wrote itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import joblib

from daihou.risk.model import PdModel

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
LIBRARIES = ("daihou", "numpy", "pandas", "scikit-learn", "lightgbm", "optbinning", "ortools", "matplotlib", "joblib")


class RegistryError(LookupError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    version: int
    kind: str
    created_at: str
    auc: float | None
    path: Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


class Registry:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "models"

    def _folder(self, name: str) -> Path:
        if not NAME.match(name):
            raise RegistryError(
                "bad_name",
                f"model name {name!r}: use letters, digits, '_', '-' and '.', starting with a letter or digit",
            )
        return self.root / name

    def versions(self, name: str) -> list[int]:
        folder = self._folder(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME.match(p.name))

    def path(self, name: str, version: int | None = None) -> Path:
        known = self.versions(name)
        if not known:
            raise RegistryError("unknown_model", f"no model named {name!r} in {self.root}")
        chosen = known[-1] if version is None else version
        if chosen not in known:
            raise RegistryError(
                "unknown_version", f"model {name!r} has no version {chosen}; it has {', '.join(map(str, known))}"
            )
        return self._folder(name) / str(chosen)

    def save(
        self,
        name: str,
        model: PdModel,
        card: dict[str, Any],
        metadata: dict[str, Any],
        charts: Callable[[Path], object] | None = None,
    ) -> Entry:
        """Write a new version; `charts(folder)` draws the PNGs into the version's charts folder."""
        folder = self._folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        try:
            joblib.dump(model, staging / "model.joblib", compress=3)
            if charts is not None:
                charts(staging / "charts")
            while True:
                version = (self.versions(name) or [0])[-1] + 1
                meta = {"name": name, "version": version, "kind": model.kind, **metadata}
                _write_json(staging / "metadata.json", meta)
                _write_json(staging / "card.json", {"name": name, "version": version, **card})
                try:
                    os.rename(staging, folder / str(version))  # fails if another writer took the number
                    break
                except OSError:
                    continue
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.entry(name, version)

    def entry(self, name: str, version: int) -> Entry:
        path = self.path(name, version)
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        card = json.loads((path / "card.json").read_text(encoding="utf-8"))
        auc = card.get("metrics", {}).get("auc")
        return Entry(name, version, meta.get("kind", "?"), meta.get("created_at", ""), auc, path)

    def entries(self) -> list[Entry]:
        return [self.entry(name, v) for name in self.names() for v in self.versions(name)]

    def load_model(self, name: str, version: int | None = None) -> PdModel:
        model: PdModel = joblib.load(self.path(name, version) / "model.joblib")
        return model

    def card(self, name: str, version: int | None = None) -> dict[str, Any]:
        card: dict[str, Any] = json.loads((self.path(name, version) / "card.json").read_text(encoding="utf-8"))
        return card

    def metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads((self.path(name, version) / "metadata.json").read_text(encoding="utf-8"))
        return meta

    # ------------------------------------------------------------ deployment

    def deploy(self, role: str, name: str, version: int | None, by: str, at: str) -> Deployment:
        """Make `name` (its latest version unless `version`) the model the close of business scores
        with in `role` ("bcard", "ccard"); the previous deployment of the role is replaced."""
        if not NAME.match(role):
            raise RegistryError("bad_name", f"role {role!r}: use letters, digits, '_', '-' and '.'")
        chosen = int(self.path(name, version).name)
        deployments = self._deployments()
        deployments[role] = {"name": name, "version": chosen, "by": by, "at": at}
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / ".deployed.json.tmp"
        _write_json(staging, deployments)
        os.replace(staging, self.root / "deployed.json")
        return Deployment(role, name, chosen, by, at)

    def deployed(self, role: str) -> Deployment | None:
        found = self._deployments().get(role)
        return None if found is None else Deployment(role, found["name"], found["version"], found["by"], found["at"])

    def _deployments(self) -> dict[str, Any]:
        path = self.root / "deployed.json"
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        return data


@dataclass(frozen=True)
class Deployment:
    role: str
    name: str
    version: int
    by: str
    at: str


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
