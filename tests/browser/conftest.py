"""The hosted Connect page in real headless Chromium: Debian's ``chromium`` (installed by
``.ci/run``), driven by Playwright over the DevTools protocol (no browser download).

One ``tether dev`` serves the module's tests, with the demo OAuth provider on a port of its
own and the sample API standing in for Stripe and for a generic REST API (reachable through
the egress allowlist). Every test gets fresh browser contexts; screenshots of each step go
to ``test-artifacts/connect/`` (kept by CI as artefacts).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_dev_server import ROOT, DevServer, _free_port
from tests.support.chromium import CHROMIUM, FLAGS
from tether_emulators.sample_api import SampleApi

ARTIFACTS = Path(os.environ.get("TETHER_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "connect"
# What the sample API answers as Stripe's customers (the catalog's test request).
CUSTOMERS = {
    "data": [
        {"id": "cus_1", "email": "ada@example.com"},
        {"id": "cus_2", "email": "bob@example.com"},
    ]
}
SPEC = {
    "openapi": "3.0.0",
    "paths": {
        "/cursor/items": {"get": {"summary": "Items, by cursor"}},
        "/page/items": {"get": {"summary": "Items, by page"}},
    },
}

if not os.path.exists(CHROMIUM):
    pytest.skip(
        "Debian's chromium is not installed here (`.ci/run` installs it: apt-get install chromium)",
        allow_module_level=True,
    )
playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Stack:
    dev: DevServer
    api: SampleApi
    demo_port: int
    tenant: dict[str, str]

    def session(self, end_user: str = "user-a", **fields: Any) -> dict[str, Any]:
        body = {"end_user": {"id": end_user, "display_name": end_user.title()}, **fields}
        opened = httpx.post(f"{self.dev.url}/connect_sessions/", json=body, headers=self.tenant)
        assert opened.status_code == 201, opened.text
        return dict(opened.json())

    def stub_provider_answers(self) -> None:
        """The sample API as Stripe (its customers) and as a REST API with a spec."""
        self.api.clear_injections()
        self.api.inject("/v1/customers", status=200, times=50, body=json.dumps(CUSTOMERS))
        self.api.inject("/openapi.json", status=200, times=50, body=json.dumps(SPEC))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with SampleApi() as api:
        demo_port = _free_port()
        dev = DevServer(
            tmp_path_factory.mktemp("connect") / "data",
            extra_args=("--demo-provider-port", str(demo_port)),
            extra_env={
                "TETHER_EGRESS_ALLOWLIST": f"127.0.0.1:{api.port}",
                "TETHER_CATALOG_API_BASE_URLS": json.dumps({"stripe": f"{api.url}/v1"}),
            },
        )
        dev.start()
        tenant = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'acme')}"}
        built = Stack(dev, api, demo_port, tenant)
        built.stub_provider_answers()
        try:
            yield built
        finally:
            dev.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1000, "height": 800})
    yield made
    made.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Any:
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    count = {"n": 0}

    def shot(page: Any, step: str) -> None:
        count["n"] += 1
        page.screenshot(path=str(folder / f"{count['n']:02d}-{step}.png"), full_page=True)

    return shot
