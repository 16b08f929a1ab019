"""Schema-driven test: schemathesis generates requests for every operation of the served
``/api/v1/openapi.json`` and checks that the running app on loopback never answers 5xx
and that every answer (status, content type, body) conforms to the document.

Bounded: a few examples per operation, no shrinking-heavy phases, so it stays well
under a minute on a loaded machine. Under ``CI=true`` the examples are derandomized (the
same every run), so a red CI run is a regression, not a new draw; locally each run
draws new examples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.monitor.web.api_rig import Rig, rig

EXAMPLES_PER_OPERATION = 12
DERANDOMIZE = os.environ.get("CI") == "true"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    db = tmp_path_factory.mktemp("schemathesis") / "camcanary.db"
    with rig(f"sqlite:///{db}") as r:
        yield r


@pytest.fixture(scope="module")
def api_schema(served: Rig) -> Any:
    return schemathesis.openapi.from_url(served.url + "/api/v1/openapi.json", timeout=20)


def test_the_api_conforms_to_its_openapi_document_and_never_fails(
    api_schema: Any, served: Rig
) -> None:
    # The operator may call every operation; role boundaries are test_auth's subject.
    headers = {"Authorization": f"Bearer {served.tokens['olga']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=DERANDOMIZE,
        )
        def check(case: Any) -> None:
            case.call_and_validate(base_url=served.url, headers=headers, timeout=20)

        check()
