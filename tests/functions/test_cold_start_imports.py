"""What a cold instance loads to answer its first request, checked in a fresh interpreter.

Cold start is paid in imports: each function loads only what its own request needs. These
tests pin the gains `make bench` measured, so a change cannot silently undo them: a public
function (webhooks, catalog) never loads PyJWT, the catalog not even ``cryptography``, the
connection list loads neither the provider catalog nor an HTTP client nor a cloud SDK, and
the startup objects are frozen out of the garbage collector's passes (see
``functions/main.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import stripe

from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING, bearer
from tests.functions.conftest import SOURCE
from tether.bootstrap import Container
from tether.connections.commands import CreateConnection
from tether.domain.models import Principal, WebhookInfo

WHSEC = "whsec_cold0start0secret0123456789"

# Runs in a fresh interpreter: loads one function as functions-framework does, sends one
# request through it, prints the status, the loaded modules and the frozen object count.
_FIRST_REQUEST = textwrap.dedent(
    """
    import gc, json, os, sys
    from functions_framework import create_app

    target, source, method, path, body, headers = json.loads(sys.argv[1])
    collections = []
    gc.callbacks.append(lambda phase, info: collections.append(phase) if phase == "start" else 0)
    app = create_app(target, source)
    started = {"frozen": gc.get_freeze_count(), "collections": len(collections),
               "gc_enabled": gc.isenabled()}
    client = app.test_client()
    answer = client.open(path, method=method, data=body.encode(), headers=headers)
    print(json.dumps({"status": answer.status_code, **started,
                      "pydantic_plugins": os.environ.get("PYDANTIC_DISABLE_PLUGINS"),
                      "modules": sorted(sys.modules)}))
    """
)


def first_request(
    data_dir: Path,
    target: str,
    method: str = "GET",
    path: str = "/",
    body: str = "",
    headers: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, object]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TETHER_") and k != "PYDANTIC_DISABLE_PLUGINS"
    }
    environment.update(
        TETHER_MODE="dev",
        TETHER_AUTH="dev",
        TETHER_DEV_JWT_SECRET=TEST_JWT_SECRET,
        TETHER_KEYRING=TEST_KEYRING,
        TETHER_DATA_DIR=str(data_dir),
        TETHER_TASK_WORKER="false",
        TETHER_PUBLIC_URL="http://127.0.0.1:8080",
    )
    environment.update(env or {})
    request = json.dumps([target, SOURCE, method, path, body, headers or {}])
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUEST, request],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


def loaded(answer: dict[str, object], package: str) -> list[str]:
    modules = answer["modules"]
    assert isinstance(modules, list)
    return [m for m in modules if m == package or m.startswith(package + ".")]


def stripe_webhook_path(container: Container) -> str:
    token, token_hash, _ = container.webhook_provisioning.issue_token()
    container.connections.create(
        Principal(tenant_id="acme", user_id="user-1"),
        CreateConnection(
            provider="stripe",
            credentials={"api_key": "sk_test_cold0start", "webhook_secret": WHSEC},
        ),
        webhook=WebhookInfo(url="masked", token_hash=token_hash),
    )
    return f"/{token}"


def test_an_accepted_webhook_loads_no_jwt_library(container: Container) -> None:
    path = stripe_webhook_path(container)
    body = json.dumps({"id": "evt_cold_1", "type": "charge.succeeded", "data": {"object": {}}})
    signature = stripe.WebhookSignature.generate_signature_header(
        body, WHSEC, timestamp=int(time.time())
    )
    answer = first_request(
        container.settings.data_dir,
        "webhooks",
        method="POST",
        path=path,
        body=body,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert answer["status"] == 200
    assert loaded(answer, "jwt") == []
    assert loaded(answer, "tether.api.auth") == []


def test_the_public_catalog_loads_neither_jwt_nor_cryptography(tmp_path: Path) -> None:
    answer = first_request(tmp_path, "catalog")
    assert answer["status"] == 200
    assert loaded(answer, "jwt") == []
    # It parses the keyring at start like every function, but never seals or opens anything.
    assert loaded(answer, "cryptography") == []


def test_the_connection_list_loads_no_catalog_http_client_or_cloud_sdk(tmp_path: Path) -> None:
    answer = first_request(tmp_path, "connections", headers=bearer("acme"))
    assert answer["status"] == 200
    assert loaded(answer, "jwt")  # it verifies a token (the check above means something)
    assert loaded(answer, "tether.crypto.envelope")  # its sealer is built, never used
    for package in (
        "yaml",
        "tether.catalog.loader",
        "httpx",
        "grpc",
        "google.cloud.firestore",
        "google.cloud.secretmanager",
        "tether.oauth",
    ):
        assert loaded(answer, package) == [], package


def test_the_connection_list_loads_no_write_path_sync_or_port_modules(tmp_path: Path) -> None:
    # A read never publishes an event, checks a destination, touches synced records or syncs,
    # and names the ports for type checking only.
    answer = first_request(tmp_path, "connections", headers=bearer("acme"))
    assert answer["status"] == 200
    assert loaded(answer, "tether.connections.service")  # the service answered the list
    for module in (
        "tether.connections.events",
        "tether.delivery",
        "tether.domain.events",
        "tether.catalog.destination",
        "tether.domain.synced_records",
        "tether.domain.sync_runs",
        "tether.ports",
    ):
        assert loaded(answer, module) == [], module


def test_a_function_creates_only_its_own_response_bodies(tmp_path: Path) -> None:
    answer = first_request(tmp_path, "connections", headers=bearer("acme"))
    assert answer["status"] == 200
    assert loaded(answer, "tether.api.schemas") == [
        "tether.api.schemas",
        "tether.api.schemas.body",
        "tether.api.schemas.connections",
    ]


def test_startup_objects_are_frozen_out_of_collections(tmp_path: Path) -> None:
    answer = first_request(tmp_path, "catalog")
    frozen = answer["frozen"]
    assert isinstance(frozen, int)
    assert frozen > 10_000  # the frameworks, pydantic and the settings loaded at start


def test_loading_a_function_runs_no_collection_and_leaves_collection_on(tmp_path: Path) -> None:
    answer = first_request(tmp_path, "connections", headers=bearer("acme"))
    assert answer["status"] == 200
    assert answer["collections"] == 0  # ~30 passes over the startup objects before
    assert answer["gc_enabled"] is True


def test_no_pydantic_plugin_discovery_unless_the_deployment_asks(tmp_path: Path) -> None:
    # Looking for plugins reads every installed distribution's metadata on the first model.
    assert first_request(tmp_path, "catalog")["pydantic_plugins"] == "__all__"
    asked = first_request(tmp_path, "catalog", env={"PYDANTIC_DISABLE_PLUGINS": "logfire"})
    assert asked["pydantic_plugins"] == "logfire"
