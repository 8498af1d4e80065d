"""Property-based fuzzing of the OpenAPI schema (schemathesis + hypothesis): no request may give a 5xx.

Every operation in the schema is called with generated parameters and bodies (valid and invalid), with a
good admin token so that the write paths run too (on a copy of the sample registry). Bounded: a fixed
number of examples per operation and derandomized, so the run is repeatable and takes well under a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from geomap.api import create_app
from geomap.api.state import ServiceState
from tests._workspaces import sample_workspace

pytestmark = pytest.mark.realdata
DATA = Path(__file__).resolve().parents[2] / "data"
TOKEN = "fuzz-token"


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    state = ServiceState.load(sample_workspace(tmp_path_factory.mktemp("fuzz"), admin_token=TOKEN))
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(state))


def test_no_server_error(api_schema):
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    checked = []
    for result in api_schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
                      database=None)
            def run(case):
                response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]}: {response.text[:500]}")
                if response.status_code >= 400 and "json" in str(response.headers.get("content-type", "")):
                    assert response.json().get("detail"), "a 4xx must say what is wrong"

            try:
                run()
            except Unsatisfiable:  # no invalid input exists (an operation without parameters)
                assert mode == GenerationMode.NEGATIVE
        checked.append(op.label)
    assert {"GET /nearest", "GET /stations", "GET /isochrones", "POST /stations", "PATCH /stations/{station_id}",
            "POST /stations/import"} <= set(checked)
