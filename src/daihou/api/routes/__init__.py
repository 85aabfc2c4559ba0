"""The /api/v1 routers, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from daihou.api.routes import auth

ROUTERS: list[APIRouter] = [auth.router]
