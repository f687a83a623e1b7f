"""Fuzz `opspack serve` with schemathesis against its own OpenAPI document.

Every operation gets generated requests, valid and invalid (wrong types, missing
fields, odd strings in chat text); none may answer 5xx, and every answer must match
the document (status codes, the result-object body). Bad input is a 4xx or a result
object with an error, never a traceback.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from frontend_helpers import TOKEN
from hypothesis import HealthCheck, settings
from opspack.frontends.gateway import Gateway
from opspack.frontends.serve import ServeSettings, create_app, openapi_document
from opspack.registry import Registry
from opspack.runtime import Runtime
from opspack.settings import Config

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _app(registry: Registry) -> Any:
    runtime = Runtime(registry, config=Config(data={}, path=None, environ={}), audit=None)
    return create_app(Gateway(runtime), ServeSettings(tokens=[TOKEN], max_body=64 * 1024))


schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def app(registry: Registry) -> Any:
    return _app(registry)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_document(case: Any, app: Any) -> None:
    response = case.call(app=app, headers=AUTH)
    assert response.status_code < 500, response.text[:500]
    assert "Traceback" not in response.text
    case.validate_response(response, checks=[schemathesis.checks.not_a_server_error])


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_a_token_everything_but_healthz_is_401(case: Any, app: Any) -> None:
    response = case.call(app=app)
    documented = case.method.upper() in {m.upper() for m in schema.raw_schema["paths"][case.path]}
    if not documented:
        assert response.status_code in (401, 405)
    elif case.path == "/healthz":
        assert response.status_code == 200
    else:
        assert response.status_code == 401
