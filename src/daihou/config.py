"""One typed settings object, read from the environment (DAIHOU_*) in bootstrap and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///daihou.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAIHOU_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    locale: str = "zh_CN"
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("var")  # daily snapshots (Parquet) and the close of business's saved inputs

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
            raise ValueError(f"unsupported database URL {url!r}: use sqlite:///FILE or postgresql://…")
        return url
