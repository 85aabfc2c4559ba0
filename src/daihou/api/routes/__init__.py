"""The /api/v1 routers, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from daihou.api.routes import admin, auth, loans, workflow

ROUTERS: list[APIRouter] = [auth.router, loans.router, workflow.router, admin.router]
