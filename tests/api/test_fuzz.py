"""schemathesis against the app (no server), in the suite (issue 14, section 2).

Every operation of the OpenAPI document, as an anonymous caller, a city centre and a grid
worker, with valid and invalid input drawn by a fixed seed (``derandomize``): no 5xx, every
status, content type and body as the document says. The budget (GISGRID_FUZZ_EXAMPLES cases
per operation and caller, 2 by default) keeps this under a minute; ``make fuzz`` runs the
same test with a larger one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from gisgrid.settings import Settings
from tests.city_support import bearer_header, username_of

DB = "fuzz_scratch"
EXAMPLES = int(os.environ.get("GISGRID_FUZZ_EXAMPLES", "2"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CALLERS = ("anonymous", "city_centre", "grid_worker")


def _operations() -> list[str]:
    doc = create_app(Settings(secret_key="f" * 40, _env_file=None)).openapi()
    methods = ("get", "post", "put", "patch", "delete")
    return [
        f"{m.upper()} {path}" for path, ops in doc["paths"].items() for m in ops if m in methods
    ]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def settings_overrides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"data_dir": tmp_path_factory.mktemp("fuzz")}


@pytest.fixture(scope="module")
def schema(client: TestClient) -> Iterator[Any]:
    yield schemathesis.openapi.from_asgi("/openapi.json", client.app)


@pytest.fixture(scope="module")
def callers(client: TestClient, store: Any) -> dict[str, dict[str, str]]:
    return {
        "anonymous": {},
        **{role: bearer_header(client, username_of(store, role)) for role in CALLERS[1:]},
    }


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_fuzz(schema: Any, callers: dict[str, dict[str, str]], operation: str, caller: str) -> None:
    op = schema.find_operation_by_label(operation)
    assert op is not None, operation
    headers = callers[caller]
    cases = st.one_of(
        op.as_strategy(generation_mode=GenerationMode.POSITIVE),
        op.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the fixed seed: the same cases every run
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
