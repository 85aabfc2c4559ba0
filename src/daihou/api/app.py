"""The FastAPI application: the REST API under /api/v1, the staff pages and the borrower portal."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from daihou import bootstrap
from daihou.api import problems

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"


def create_app(app: bootstrap.App) -> FastAPI:
    """Build the web application over `app` (its engine, clock and settings)."""
    from daihou.api.routes import ROUTERS
    from daihou.web import portal, staff

    api = FastAPI(
        title="daihou API",
        version="1",
        summary="daihou (贷后) post-loan management: loans, payments, visits, warnings, collections.",
        openapi_url="/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    api.state.daihou = app
    problems.install(api)
    for router in ROUTERS:
        api.include_router(router, prefix=API_PREFIX)
    api.include_router(staff.router)
    api.include_router(portal.router)
    if STATIC_DIR.is_dir():
        api.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return api


def from_env() -> FastAPI:
    """The application over the database named by the environment (DAIHOU_DATABASE_URL): for
    `uvicorn --factory daihou.api.app:from_env` and `daihou serve --workers N`."""
    return create_app(bootstrap.build())
