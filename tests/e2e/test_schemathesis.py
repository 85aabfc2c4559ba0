"""Schemathesis against `/openapi.json` (in-process ASGI): generated requests to every API operation,
as an administrator, find no server error and no response that breaks the published schema.

One test per operation; each runs Hypothesis examples drawn by Schemathesis from the operation's
schema (the book is built once, so operations are listed from the schema at run time)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

sys.path.insert(0, str(Path(__file__).parent))
from api_world import World, build_world

from daihou.api.app import create_app

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
EXAMPLES = 25


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("schemathesis"), loans=200)


def test_every_api_operation_keeps_its_published_schema(world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(world.app))
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, "the API lost operations"
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
