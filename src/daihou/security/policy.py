"""Security limits (session lifetime, idle timeout, login rate limits, password length) from `policy.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    session_lifetime_s: int
    idle_timeout_s: int
    touch_every_s: int
    login_window_s: int
    max_failures_per_user_ip: int
    max_failures_per_ip: int
    password_min_length: int


@cache
def load() -> SecurityPolicy:
    text = resources.files("daihou.security").joinpath("policy.toml").read_text(encoding="utf-8")
    d = tomllib.loads(text)
    return SecurityPolicy(
        session_lifetime_s=int(d["session"]["lifetime_s"]),
        idle_timeout_s=int(d["session"]["idle_timeout_s"]),
        touch_every_s=int(d["session"]["touch_every_s"]),
        login_window_s=int(d["login"]["window_s"]),
        max_failures_per_user_ip=int(d["login"]["max_failures_per_user_ip"]),
        max_failures_per_ip=int(d["login"]["max_failures_per_ip"]),
        password_min_length=int(d["password"]["min_length"]),
    )
