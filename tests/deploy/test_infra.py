"""The Terraform in ``infra/`` read with python-hcl2 and checked against the code it deploys.

No cloud account and no provider plugins are needed: the files are parsed, the few kinds of
expression the environment uses are evaluated here (an unknown one fails the test, so it
cannot silently escape the check), and what comes out is compared with the code itself:
``functions/main.py``, :class:`tether.config.Settings` (which validates the environment the
functions get), the task handlers, the Secret Manager store's secret names, the Firestore
index file and the role table of ``infra/README.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from tests.support.deployment import entry_points
from tether.adapters.secret_manager.store import secret_id_for
from tether.bootstrap import Container
from tether.config import QUEUED_TASK_KINDS, Settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PROJECT = "acme-prod"

# Reachable without any token: the providers' redirect, their webhooks (signature-verified)
# the public catalog and the hosted Connect page.
PUBLIC = {"catalog", "oauth_callback", "webhooks", "connect"}


@cache
def _config() -> dict[str, Any]:
    """Every .tf file merged: resources by type and name, locals, variables, outputs."""
    options = SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False, with_comments=False
    )
    merged: dict[str, Any] = {"resource": {}, "locals": {}, "variable": {}, "output": {}}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as handle:
            doc = hcl2.load(handle, serialization_options=options)
        for block in doc.get("resource", []):
            for kind, named in block.items():
                merged["resource"].setdefault(kind, {}).update(named)
        for block in doc.get("locals", []):
            merged["locals"].update(block)
        for key in ("variable", "output"):
            for block in doc.get(key, []):
                merged[key].update(block)
    return merged


def _resource(address: str) -> dict[str, Any]:
    kind, name = address.split(".")
    return dict(_config()["resource"][kind][name])


def _local(name: str) -> Any:
    return _config()["locals"][name]


def _default(variable: str) -> Any:
    return _config()["variable"][variable].get("default")


def _account_email(address: str) -> str:
    account = _resource(address)["account_id"]
    return f"{account}@{PROJECT}.iam.gserviceaccount.com"


def _evaluate(expression: str) -> str:
    """The value of the references used in infra's settings, for project ``PROJECT`` with
    every variable at its default."""

    def one(reference: str) -> str:
        if m := re.fullmatch(r"var\.(\w+)", reference):
            value = PROJECT if m[1] == "project_id" else _default(m[1])
            assert value is not None, f"var.{m[1]} has no default"
            return str(value)
        if m := re.fullmatch(r"tostring\(var\.(\w+)\)", reference):
            return str(_default(m[1]))
        if m := re.fullmatch(r"local\.(\w+)", reference):
            return _evaluate(_local(m[1]))
        if m := re.fullmatch(r"google_service_account\.(\w+)\.email", reference):
            return _account_email(f"google_service_account.{m[1]}")
        if m := re.fullmatch(r"google_secret_manager_secret\.(\w+)\.id", reference):
            secret_id = _resource(f"google_secret_manager_secret.{m[1]}")["secret_id"]
            return f"projects/{PROJECT}/secrets/{_evaluate(secret_id)}"
        if m := re.fullmatch(r"google_firestore_database\.(\w+)\.name", reference):
            return _evaluate(_resource(f"google_firestore_database.{m[1]}")["name"])
        raise AssertionError(f"the test does not know how to evaluate ${{{reference}}}")

    return re.sub(r"\$\{([^}]*)\}", lambda m: one(m[1]), str(expression))


def _environment() -> dict[str, str]:
    return {name: _evaluate(value) for name, value in _local("environment").items()}


def _function_url(entry_point: str) -> str:
    return f"{_evaluate(_local('base_url'))}/{entry_point.replace('_', '-')}"


# -- functions ------------------------------------------------------------------------------


def test_one_function_per_entry_point_with_its_limits() -> None:
    functions = _local("functions")
    assert sorted(functions) == entry_points()
    resource = _resource("google_cloudfunctions2_function.function")
    assert resource["for_each"] == "${local.functions}"
    build = resource["build_config"][0]
    assert build["entry_point"] == "${each.key}"
    assert build["runtime"] == "python311"  # requires-python = ">=3.11"
    service = resource["service_config"][0]
    assert service["available_memory"] == "${each.value.memory}"
    assert service["timeout_seconds"] == "${each.value.timeout}"
    assert service["max_instance_count"] == "${each.value.max_instances}"
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    for name, spec in functions.items():
        assert re.fullmatch(r"\d+Mi", spec["memory"]), name
        assert 0 < spec["timeout"] <= 3600 and 0 < spec["max_instances"] <= 100, name
        assert spec["description"], name
    # The connection test gives up after at most 30 s: its function must outlive that.
    assert functions["test_connection"]["timeout"] > Settings().connection_test_timeout_seconds


def test_the_environment_is_a_complete_cloud_configuration() -> None:
    """What each deployed function gets passes the code's own startup check."""
    env = _environment()
    fields = set(Settings.model_fields)
    for name in env:
        if name.startswith("TETHER_"):
            assert name.removeprefix("TETHER_").lower() in fields, f"{name} is not a setting"
    settings = Settings.from_env(env)
    settings.check()
    # The keyring: read (and re-read) from the secret every function may read.
    assert (
        settings.keyring_secret == f"projects/{PROJECT}/secrets/tetherapp-keyring/versions/latest"
    )
    assert settings.keyring_origins == ["TETHER_KEYRING_SECRET"]
    assert (settings.mode, settings.store, settings.secrets, settings.tasks) == (
        "cloud",
        "firestore",
        "secret_manager",
        "cloud_tasks",
    )
    assert settings.task_auth_mode == "oidc"
    assert settings.gcp_project == PROJECT
    assert settings.tasks_url == settings.tasks_audience == _function_url("tasks")
    assert settings.tasks_service_account == _account_email("google_service_account.tasks_invoker")
    # The redirect URI registered with providers is the oauth_callback function's URL, and
    # issued webhook URLs (<public_url>/webhooks/<token>) land on the webhooks function.
    assert settings.callback_url == _function_url("oauth_callback")
    assert f"{settings.public_url}/webhooks" == _function_url("webhooks")
    assert _evaluate(_config()["output"]["oauth_redirect_uri"]["value"]) == settings.callback_url


def test_every_variable_is_described() -> None:
    for name, spec in _config()["variable"].items():
        assert spec.get("description"), name
    for name, spec in _config()["output"].items():
        assert spec.get("description"), name


# -- queues and schedules ---------------------------------------------------------------------


def test_one_queue_per_kind_the_code_enqueues_to() -> None:
    queues = _local("queues")
    env = _environment()
    settings = Settings.from_env(env)
    resource = _resource("google_cloud_tasks_queue.queue")
    assert resource["name"] == "${local.queue_prefix}${each.key}"
    names = [_evaluate(_local("queue_prefix")) + kind for kind in queues]
    assert sorted(names) == sorted(settings.task_queue_names)
    assert set(queues) == {*QUEUED_TASK_KINDS, "default"}
    retry = resource["retry_config"][0]
    # Tether decides when a delivery is dead: the queue may not give up before it does.
    assert retry["max_attempts"] == "${var.task_max_attempts}"
    assert env["TETHER_TASK_MAX_ATTEMPTS"] == str(_default("task_max_attempts"))
    assert _default("task_max_attempts") >= Settings().oauth_refresh_retry_budget
    for kind, limits in queues.items():
        assert limits["rate"] > 0 and limits["concurrent"] > 0, kind


def test_scheduler_jobs_call_task_kinds_the_tasks_function_handles(
    container: Container,
) -> None:
    schedules = _local("schedules")
    handled = set(container.task_handlers)
    assert {"sweep", "housekeeping"} <= set(schedules)
    assert set(schedules) <= handled
    job = _resource("google_cloud_scheduler_job.job")
    target = job["http_target"][0]
    assert target["uri"] == "${local.tasks_url}/${each.key}"
    assert target["http_method"] == "POST"
    token = target["oidc_token"][0]
    env = _environment()
    # The tasks function accepts tokens for exactly this audience and account.
    assert _evaluate(token["audience"]) == env["TETHER_TASKS_AUDIENCE"]
    assert _evaluate(token["service_account_email"]) == env["TETHER_TASKS_SERVICE_ACCOUNT"]


# -- Firestore --------------------------------------------------------------------------------


def _indexes_file() -> dict[str, Any]:
    return json.loads((INFRA / "firestore.indexes.json").read_text())


def test_firestore_indexes_and_ttl_policies_come_from_the_index_file() -> None:
    """firestore.indexes.json is the one list (its own tests check it against the adapter's
    queries); the Terraform makes one resource per entry of it, nothing else."""
    assert (
        _local("firestore_indexes")
        == '${jsondecode(file("${path.module}/firestore.indexes.json"))}'
    )
    composite = _resource("google_firestore_index.composite")
    assert "in local.firestore_indexes.indexes" in composite["for_each"]
    assert composite["collection"] == "${each.value.collectionGroup}"
    assert composite["query_scope"] == "${each.value.queryScope}"
    fields = composite["dynamic"][0]["fields"]
    assert fields["for_each"] == "${each.value.fields}"
    assert fields["content"][0] == {
        "field_path": "${fields.value.fieldPath}",
        "order": "${fields.value.order}",
    }
    override = _resource("google_firestore_field.override")
    assert "in local.firestore_indexes.fieldOverrides" in override["for_each"]
    assert override["field"] == "${each.value.fieldPath}"
    ttl = override["dynamic"][0]["ttl_config"]
    assert ttl["for_each"] == '${lookup(each.value, "ttl", false) ? [true] : []}'

    # The for_each keys Terraform computes must be unique, or `plan` fails.
    data = _indexes_file()
    index_keys = [
        f"{i['collectionGroup']}:{i['queryScope']}:"
        + ",".join(f"{f['fieldPath']}:{f['order']}" for f in i["fields"])
        for i in data["indexes"]
    ]
    assert len(set(index_keys)) == len(index_keys)
    field_keys = [f"{o['collectionGroup']}.{o['fieldPath']}" for o in data["fieldOverrides"]]
    assert len(set(field_keys)) == len(field_keys)
    # Every key the resources read is present in every entry.
    for index in data["indexes"]:
        assert {"collectionGroup", "queryScope", "fields"} <= set(index)
        assert all({"fieldPath", "order"} <= set(f) for f in index["fields"])
    for entry in data["fieldOverrides"]:
        assert all({"order", "queryScope"} <= set(i) for i in entry["indexes"])
    ttl_fields = {o["collectionGroup"] for o in data["fieldOverrides"] if o.get("ttl")}
    assert {
        "oauth_states",
        "webhook_events",
        "leases",
        "deliveries",
        "audit",
        "idempotency_keys",
    } <= ttl_fields
    database = _resource("google_firestore_database.main")
    assert database["type"] == "FIRESTORE_NATIVE"
    assert _environment()["TETHER_FIRESTORE_DATABASE"] == Settings().firestore_database


# -- secrets, roles and who may call what ------------------------------------------------------


def test_app_secrets_are_outside_the_credential_grants() -> None:
    credential_prefix = _evaluate(_local("credential_secret_prefix"))
    assert secret_id_for("acme", "conn_1").startswith(credential_prefix)
    app_prefix = _evaluate(_local("app_secret_prefix"))
    assert not app_prefix.startswith(credential_prefix)
    for name in ("keyring", "oauth_client", "webhook"):
        secret_id = _resource(f"google_secret_manager_secret.{name}")["secret_id"]
        assert secret_id.startswith("${local.app_secret_prefix}"), name
    condition = _evaluate(
        _local("credentials_condition")["expression"].replace(
            "${local.credential_secrets_name}",
            "projects/123/secrets/${local.credential_secret_prefix}",
        )
    )
    assert condition == f'resource.name.startsWith("projects/123/secrets/{credential_prefix}")'


# What each IAM resource grants, on what: (role as the README writes it, scope).
_GRANTS = {
    "google_project_iam_member.firestore": ("roles/datastore.user", "project"),
    "google_project_iam_member.credentials": (
        "tetherCredentialSecrets (custom)",
        "secrets tether-*",
    ),
    "google_project_iam_member.credentials_read": (
        "roles/secretmanager.secretAccessor",
        "secrets tether-*",
    ),
    "google_secret_manager_secret_iam_member.keyring": (
        "roles/secretmanager.secretAccessor",
        "secret tetherapp-keyring",
    ),
    "google_secret_manager_secret_iam_member.oauth_client": (
        "roles/secretmanager.secretAccessor",
        "secrets tetherapp-oauth-*",
    ),
    "google_secret_manager_secret_iam_member.webhook": (
        "roles/secretmanager.secretAccessor",
        "secrets tetherapp-webhook-*",
    ),
    "google_cloud_tasks_queue_iam_member.enqueue": ("roles/cloudtasks.enqueuer", "queues tether-*"),
    "google_service_account_iam_member.enqueue_as_invoker": (
        "roles/iam.serviceAccountUser",
        "account tether-tasks-invoker",
    ),
}


def _granted_to(resource: dict[str, Any]) -> set[str]:
    """The functions an IAM resource's for_each selects from local.function_grants."""
    grants = {name: set(g) for name, g in _local("function_grants").items()}
    expression = resource["for_each"]
    if expression == "${local.function_grants}":
        return set(grants)
    m = re.search(r'if contains\(grants, \\?"(\w+)\\?"\)', expression)
    assert m, f"unexpected for_each: {expression}"
    return {name for name, g in grants.items() if m[1] in g}


def _iam_resources() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind, named in _config()["resource"].items():
        if kind.endswith(("_iam_member", "_iam_binding", "_iam_policy")):
            for name, body in named.items():
                yield f"{kind}.{name}", body


def _readme_roles() -> set[tuple[str, str, str]]:
    rows = set()
    text = (INFRA / "README.md").read_text()
    section = text.split("## Roles", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("function", "") and not cells[0].startswith("-"):
            rows.add((cells[0], cells[1].replace("`", ""), cells[2].replace("`", "")))
    return rows


def test_no_role_beyond_the_readme_table() -> None:
    granted: set[tuple[str, str, str]] = set()
    known = {
        *_GRANTS,
        "google_cloud_run_v2_service_iam_member.public",
        "google_cloud_run_v2_service_iam_member.tasks",
        "google_project_iam_member.build",
        "google_kms_crypto_key_iam_member.secret_manager",
    }
    for address, body in _iam_resources():
        assert address in known, f"{address} grants something the test and README do not list"
        role = str(body.get("role", ""))
        assert not re.search(r"roles/(owner|editor|viewer)$|admin", role, re.IGNORECASE), address
        if address in _GRANTS:
            role_name, scope = _GRANTS[address]
            granted |= {(f, role_name, scope) for f in _granted_to(body)}
    build_roles = re.findall(
        r"roles/[\w.]+", _resource("google_project_iam_member.build")["for_each"]
    )
    granted |= {("(builds)", role, "project") for role in build_roles}
    granted.add(
        (
            "(task calls)",
            _resource("google_cloud_run_v2_service_iam_member.tasks")["role"],
            "function tasks",
        )
    )
    kms = _resource("google_kms_crypto_key_iam_member.secret_manager")
    granted.add(("(CMEK only)", kms["role"], "key secret_kms_key"))
    readme = _readme_roles()
    assert granted == readme, (granted - readme, readme - granted)
    # Project-wide Secret Manager roles only ever with the name-prefix condition.
    for name in ("credentials", "credentials_read"):
        body = _resource(f"google_project_iam_member.{name}")
        assert body["condition"][0]["expression"] == "${local.credentials_condition.expression}"


def test_public_access_only_where_it_must_be() -> None:
    functions = _local("functions")
    access = {name: spec["access"] for name, spec in functions.items()}
    assert {n for n, a in access.items() if a == "public"} == PUBLIC
    assert access["tasks"] == "tasks"
    assert set(access.values()) == {"public", "tenant", "tasks"}
    public = _resource("google_cloud_run_v2_service_iam_member.public")
    assert public["member"] == "allUsers"
    assert public["for_each"] == (
        "${{for name, fn in local.functions : name => fn if contains("
        '["public", "tenant"], fn.access)}}'
    )
    tasks = _resource("google_cloud_run_v2_service_iam_member.tasks")
    assert tasks["member"] == "serviceAccount:${google_service_account.tasks_invoker.email}"
    assert public["role"] == "roles/run.invoker"
    service = _resource("google_cloudfunctions2_function.function")
    assert service["service_config"][0]["ingress_settings"] == (
        '${each.value.access == "tasks" ? "ALLOW_INTERNAL_ONLY" : "ALLOW_ALL"}'
    )
    for address, body in _iam_resources():
        if "allUsers" in str(body.get("member", "")) or "allAuthenticatedUsers" in str(body):
            assert address == "google_cloud_run_v2_service_iam_member.public", address


TENANT_CALLS = [
    ("connections", "GET", "/"),
    ("oauth_start", "POST", "/"),
    ("test_connection", "POST", "/conn_1"),
    ("fetch", "GET", "/conn_1/endpoints"),
    ("actions", "GET", "/conn_1"),
    ("proxy", "GET", "/conn_1/anything"),
    ("mcp", "POST", "/"),
    ("settings", "GET", "/"),
    ("syncs", "GET", "/conn_1"),
    ("records", "GET", "/conn_1/Invoice"),
    ("connect_sessions", "POST", "/"),
]


def test_every_tenant_function_is_probed_below() -> None:
    tenant = {n for n, spec in _local("functions").items() if spec["access"] == "tenant"}
    assert tenant == {function for function, _, _ in TENANT_CALLS}


@pytest.mark.parametrize(("function", "method", "path"), TENANT_CALLS)
def test_tenant_functions_refuse_calls_without_a_token(
    container: Container, function: str, method: str, path: str
) -> None:
    """allUsers may invoke them, so the function itself must refuse a call without a token."""
    from functions_framework import create_app

    assert _local("functions")[function]["access"] == "tenant"
    client = create_app(function, str(ROOT / "functions" / "main.py")).test_client()
    response = client.open(path, method=method, json={})
    assert response.status_code == 401
