"""Configuration: the one place that reads the environment (all variables prefixed ``TETHER_``).

:meth:`Settings.from_env` maps ``TETHER_<FIELD>`` onto a frozen pydantic model, which does all
the parsing and validation. It is written here instead of using pydantic-settings because that
package costs ~30 ms of imports (asyncio, cloud secret providers, a CLI parser) on every cold
start, a sixth of a bare function's whole start, for the dozen lines below.

``mode=dev`` (set by ``tether dev``) may generate a missing keyring and dev JWT secret into the
data folder; ``mode=cloud`` (the default, what a deployed function gets) refuses to start with a
missing keyring, with ``auth=dev`` or with the test stand-ins' API base URLs — fail closed.
"""

# No `from __future__ import annotations`: pydantic would compile every annotation of these
# models back from its text as each class is created, a cost paid on every cold start.

import logging
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Json,
    SecretStr,
    ValidationError,
    field_validator,
)

from tether.domain.errors import ConfigurationError
from tether.domain.retention import Retention

__all__ = ["OAuthClientCredentials", "Settings"]


ENV_PREFIX = "TETHER_"
# Variables read under another name as well (Google's own convention first).
_ALIASES = {
    "firebase_project": ("GOOGLE_CLOUD_PROJECT",),
    "gcp_project": ("GOOGLE_CLOUD_PROJECT",),
}
GOOGLE_OIDC_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
# Task kinds with a queue of their own; every other kind goes to the "default" queue.
QUEUED_TASK_KINDS = ("refresh", "sync", "deliver")

log = logging.getLogger("tether.config")

# OAuth clients of catalog providers: TETHER_OAUTH_CLIENT_<PROVIDER>_ID / _SECRET (for example
# TETHER_OAUTH_CLIENT_GOOGLE_DRIVE_ID). Deployed functions map these from Secret Manager.
_WEBHOOK_SECRET_VAR = re.compile(r"^TETHER_WEBHOOK_SECRET_(?P<key>[A-Z0-9_]+)$")
_OAUTH_CLIENT_VAR = re.compile(r"^TETHER_OAUTH_CLIENT_(?P<key>[A-Z0-9_]+?)_(?P<part>ID|SECRET)$")


class OAuthClientCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["dev", "cloud"] = "cloud"
    store: Literal["sqlite", "firestore"] = "sqlite"
    secrets: Literal["db", "secret_manager"] = "db"
    tasks: Literal["local", "cloud_tasks"] = "local"
    auth: Literal["dev", "firebase", "jwks"] = "firebase"

    data_dir: Path = Path(".tether")
    keyring: SecretStr | None = None
    keyring_file: Path | None = None
    # The keyring kept in a secret manager, re-read every keyring_refresh_seconds: a Secret
    # Manager secret version (projects/<p>/secrets/<s>/versions/latest) or an AWS Secrets
    # Manager secret id or ARN (in keyring_aws_region; boto3's own credentials and endpoint).
    keyring_secret: str | None = None
    keyring_aws_secret: str | None = None
    keyring_aws_region: str | None = None
    keyring_refresh_seconds: float = Field(default=60.0, ge=0, le=3600)

    public_url: str | None = None
    frontend_url: str | None = None

    dev_jwt_secret: SecretStr | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: str = "RS256,ES256"
    tenant_claim: str = "tenant_id"
    firebase_project: str | None = None
    firebase_jwks_url: str = (
        "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
    )

    # -- Google Cloud backends --------------------------------------------------------------
    gcp_project: str | None = None
    firestore_database: str = "(default)"
    # Secret Manager: automatic replication unless locations are given (comma-separated);
    # an optional CMEK key name, where "{location}" stands for each replica's location.
    secret_locations: str | None = None
    secret_kms_key: str | None = None
    # Decrypted payloads kept per instance, keyed by immutable version name (0 turns it off).
    secret_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    secret_cache_size: int = Field(default=256, ge=1, le=10_000)
    # Cloud Tasks: queue "<prefix><kind>" in this location, HTTP target = the `tasks` function.
    tasks_location: str = "us-central1"
    tasks_queue_prefix: str = "tether-"
    tasks_url: str | None = None
    tasks_service_account: str | None = None
    tasks_audience: str | None = None
    # How the `tasks` function checks its caller: Google-signed OIDC tokens from Cloud Tasks
    # and Cloud Scheduler, or (locally) a shared task token. Default: oidc in cloud mode.
    tasks_auth: Literal["oidc", "token"] | None = None
    tasks_oidc_jwks_url: str = GOOGLE_OIDC_JWKS_URL
    task_token: SecretStr | None = None

    # -- OAuth ------------------------------------------------------------------------------
    # return_to URLs allowed after the OAuth callback (comma-separated prefixes: scheme, host
    # and port must match exactly; the path must start with the given one).
    allowed_return_urls: str | None = None
    # The redirect URI registered with providers: the `oauth_callback` function's URL
    # (default: PUBLIC_URL + /oauth_callback/).
    oauth_callback_url: str | None = None
    # Filled from TETHER_OAUTH_CLIENT_<PROVIDER>_ID / _SECRET, keyed by catalog provider key.
    oauth_clients: dict[str, OAuthClientCredentials] = Field(default_factory=dict, repr=False)
    # App-level webhook signing secrets per provider: TETHER_WEBHOOK_SECRET_<PROVIDER>
    # (comma-separated during a rotation).
    webhook_secrets: dict[str, list[SecretStr]] = Field(default_factory=dict, repr=False)
    oauth_state_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    # Refresh this long before expiry (a provider's catalog entry may say otherwise); capped
    # at half the token's lifetime so a short-lived token is not refreshed on every read.
    oauth_refresh_margin_seconds: int = Field(default=300, ge=0)
    # Retryable refresh failures in a row before a connection is marked ``error``.
    oauth_refresh_retry_budget: int = Field(default=5, ge=1, le=100)
    # How long one instance may hold a connection's refresh lease.
    oauth_refresh_lease_seconds: float = Field(default=30.0, gt=0, le=300)
    # The sweep enqueues refreshes of tokens expiring within this window.
    oauth_sweep_window_seconds: int = Field(default=900, ge=60)

    # -- Outbound HTTP ----------------------------------------------------------------------
    # host:port pairs (comma-separated) the SSRF guard lets through although they resolve to
    # private or loopback addresses: for tests and the local demo only.
    egress_allowlist: str | None = None
    # Per-host transports (one per https host:port, one for plain http) kept in the outbound
    # pool; the least recently used beyond this is closed once its responses are.
    outbound_max_host_pools: int = Field(default=32, ge=1, le=1024)
    # JSON {provider: {config property: default}}: a deployment's own defaults for catalog
    # config (`tether dev` points the `demo` entry at its demo provider's address).
    catalog_config_defaults: Json[dict[str, dict[str, Any]]] | None = None
    # JSON {provider: API base URL}: a provider's API answered elsewhere, for tests and the
    # demo only (a local stand-in for Stripe, reached through the egress allowlist); refused
    # in cloud mode.
    catalog_api_base_urls: Json[dict[str, str]] | None = None
    # JSON {provider: {authorization_url, token_url, revocation_url, issuer}}: an OAuth2
    # provider's authorization server answered elsewhere; `tether dev` only (its simulators).
    catalog_authorization_servers: Json[dict[str, dict[str, str]]] | None = None
    # Default proactive rate limit per connection (a connection's config or the catalog wins).
    rate_limit_per_minute: int = Field(default=60, ge=1, le=100_000)
    rate_limit_burst: int = Field(default=10, ge=1, le=10_000)
    # A connection test gives up after this long (at most 30 s).
    connection_test_timeout_seconds: float = Field(default=15.0, gt=0, le=30)

    # -- Retention (housekeeping deletes what is older; Firestore TTL policies too) -----------
    retention_finished_tasks_days: int = Field(default=7, ge=1, le=3650)
    retention_deliveries_days: int = Field(default=30, ge=1, le=3650)
    retention_webhook_events_days: int = Field(default=7, ge=1, le=3650)
    retention_audit_days: int = Field(default=365, ge=1, le=3650)
    # Synced records deleted at the source are kept (unset) or removed this many days after
    # their deletion.
    retention_deleted_records_days: int | None = Field(default=None, ge=1, le=3650)
    # The "db" secret store's tombstones of retired credential versions and deleted
    # connections' credentials.
    retention_secret_tombstones_days: int = Field(default=90, ge=1, le=3650)
    # How often the embedded stack's task queue runs housekeeping by itself (in the cloud,
    # Cloud Scheduler calls the `tasks` function's /housekeeping).
    housekeeping_interval_seconds: int = Field(default=3600, ge=60, le=86_400)

    # -- Sync runs ------------------------------------------------------------------------------
    # A sync task's time budget: a run still going then continues in a new task. Below the
    # tasks function's time limit (infra/functions.tf), with room for the last page.
    sync_slice_seconds: float = Field(default=240.0, gt=0, le=3600)
    # Pages between two checkpoints of a run (a crash walks at most these again).
    sync_checkpoint_pages: int = Field(default=5, ge=1, le=1000)
    # The most pages a sync run walks: a provider whose pages never end fails the run there.
    sync_max_pages: int = Field(default=100_000, ge=1, le=10_000_000)
    # How often the embedded stack's queue starts due syncs by itself (in the cloud, Cloud
    # Scheduler calls the `tasks` function's /sync_due).
    sync_due_interval_seconds: int = Field(default=60, ge=1, le=3600)
    # How long the embedded queue's running task holds its claim: a task of a process that
    # died runs again after it.
    task_lease_seconds: float = Field(default=300.0, gt=0, le=86_400)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    task_max_attempts: int = Field(default=8, ge=1, le=100)
    task_worker: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One JSON line per request. Default: on in dev, off in cloud, where Cloud Run already
    # writes a request log entry (status, latency, URL) for every request.
    access_log: bool | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Settings from ``TETHER_*`` variables (empty values count as unset); ``overrides``
        win. Invalid values are a :class:`ConfigurationError` naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            for var in (ENV_PREFIX + name.upper(), *_ALIASES.get(name, ())):
                if env.get(var):
                    values[name] = env[var]
                    break
        clients: dict[str, dict[str, str]] = {}
        for var, value in env.items():
            match = _OAUTH_CLIENT_VAR.match(var)
            if match and value:
                part = "client_id" if match["part"] == "ID" else "client_secret"
                clients.setdefault(match["key"].lower(), {})[part] = value
        if clients:
            values["oauth_clients"] = clients
        secrets = {
            m["key"].lower(): [v.strip() for v in value.split(",") if v.strip()]
            for var, value in env.items()
            if (m := _WEBHOOK_SECRET_VAR.match(var)) and value
        }
        if secrets:
            values["webhook_secrets"] = secrets
        unknown = sorted(
            k
            for k in env
            if k.startswith(ENV_PREFIX)
            and k[len(ENV_PREFIX) :].lower() not in cls.model_fields
            and not _OAUTH_CLIENT_VAR.match(k)
            and not _WEBHOOK_SECRET_VAR.match(k)
        )
        if unknown:
            log.warning("ignoring unknown settings: %s", ", ".join(unknown))
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            raise ConfigurationError(f"invalid configuration: {problems}") from None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("public_url", "frontend_url", "jwks_url", "tasks_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def access_log_enabled(self) -> bool:
        return self.mode == "dev" if self.access_log is None else self.access_log

    @property
    def retention(self) -> Retention:
        return Retention(
            finished_tasks=timedelta(days=self.retention_finished_tasks_days),
            deliveries=timedelta(days=self.retention_deliveries_days),
            webhook_events=timedelta(days=self.retention_webhook_events_days),
            audit=timedelta(days=self.retention_audit_days),
            deleted_records=(
                None
                if self.retention_deleted_records_days is None
                else timedelta(days=self.retention_deleted_records_days)
            ),
            secret_tombstones=timedelta(days=self.retention_secret_tombstones_days),
        )

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tether.sqlite3"

    @property
    def tasks_path(self) -> Path:
        return self.data_dir / "tasks.sqlite3"

    @property
    def keyring_origins(self) -> list[str]:
        """The keyring settings that are set (at most one may be)."""
        values = {
            "TETHER_KEYRING": self.keyring,
            "TETHER_KEYRING_FILE": self.keyring_file,
            "TETHER_KEYRING_SECRET": self.keyring_secret,
            "TETHER_KEYRING_AWS_SECRET": self.keyring_aws_secret,
        }
        return [name for name, value in values.items() if value is not None]

    @property
    def default_keyring_file(self) -> Path:
        return self.keyring_file or self.data_dir / "keyring.json"

    @cached_property
    def cors_origins(self) -> frozenset[str]:
        """Parsed once: read on every request."""
        if not self.frontend_url:
            return frozenset()
        return frozenset(o.strip().rstrip("/") for o in self.frontend_url.split(",") if o.strip())

    @property
    def callback_url(self) -> str | None:
        if self.oauth_callback_url:
            return self.oauth_callback_url
        return f"{self.public_url}/oauth_callback/" if self.public_url else None

    @cached_property
    def return_url_prefixes(self) -> tuple[str, ...]:
        if not self.allowed_return_urls:
            return ()
        return tuple(u.strip() for u in self.allowed_return_urls.split(",") if u.strip())

    @property
    def task_auth_mode(self) -> Literal["oidc", "token"]:
        if self.tasks_auth is not None:
            return self.tasks_auth
        return "oidc" if self.mode == "cloud" else "token"

    @property
    def secret_location_list(self) -> list[str]:
        if not self.secret_locations:
            return []
        return [loc.strip() for loc in self.secret_locations.split(",") if loc.strip()]

    def task_queue(self, kind: str) -> str:
        return self.tasks_queue_prefix + (kind if kind in QUEUED_TASK_KINDS else "default")

    @property
    def task_queue_names(self) -> list[str]:
        return [self.task_queue(kind) for kind in (*QUEUED_TASK_KINDS, "default")]

    @property
    def algorithms(self) -> list[str]:
        return [a.strip() for a in self.jwt_algorithms.split(",") if a.strip()]

    def check(self) -> None:
        """Refuse configurations that would run open or half-configured."""
        if self.mode == "cloud":
            if self.auth == "dev":
                raise ConfigurationError("TETHER_AUTH=dev is only allowed with `tether dev`")
            if self.catalog_authorization_servers:
                raise ConfigurationError(
                    "TETHER_CATALOG_AUTHORIZATION_SERVERS is only allowed with `tether dev`"
                )
            if not self.keyring_origins:
                raise ConfigurationError(
                    "no keyring: set TETHER_KEYRING, TETHER_KEYRING_FILE, "
                    "TETHER_KEYRING_SECRET or TETHER_KEYRING_AWS_SECRET "
                    "(`tether keys generate` prints one)"
                )
            if self.catalog_api_base_urls:
                raise ConfigurationError(
                    "TETHER_CATALOG_API_BASE_URLS is only allowed with `tether dev`: it sends "
                    "providers' API calls, credentials attached, to stand-ins for tests and demos"
                )
        remote = {"TETHER_KEYRING_SECRET", "TETHER_KEYRING_AWS_SECRET"}
        if remote & set(self.keyring_origins) and len(self.keyring_origins) > 1:
            raise ConfigurationError(
                f"one keyring origin at a time: {', '.join(self.keyring_origins)} are all set"
            )
        if self.task_auth_mode == "token" and self.mode == "cloud":
            raise ConfigurationError(
                "TETHER_TASKS_AUTH=token is only allowed with `tether dev`; deployed task "
                "endpoints take Google-signed OIDC tokens"
            )
        needs_project = [
            var
            for var, used in (
                ("TETHER_STORE=firestore", self.store == "firestore"),
                ("TETHER_SECRETS=secret_manager", self.secrets == "secret_manager"),
                ("TETHER_TASKS=cloud_tasks", self.tasks == "cloud_tasks"),
            )
            if used
        ]
        if needs_project and not self.gcp_project:
            raise ConfigurationError(
                f"{', '.join(needs_project)} needs GOOGLE_CLOUD_PROJECT (or TETHER_GCP_PROJECT)"
            )
        if self.tasks == "cloud_tasks" and not (self.tasks_url and self.tasks_service_account):
            # (The `tasks` function re-checks its OIDC settings when it verifies a caller.)
            raise ConfigurationError(
                "TETHER_TASKS=cloud_tasks needs TETHER_TASKS_URL (the `tasks` function's URL) "
                "and TETHER_TASKS_SERVICE_ACCOUNT (the identity of its OIDC tokens)"
            )
        if self.auth == "jwks" and not (self.jwks_url and self.jwt_issuer and self.jwt_audience):
            raise ConfigurationError(
                "TETHER_AUTH=jwks needs TETHER_JWKS_URL, TETHER_JWT_ISSUER and TETHER_JWT_AUDIENCE"
            )
        if self.auth == "firebase" and not self.firebase_project:
            raise ConfigurationError(
                "TETHER_AUTH=firebase needs TETHER_FIREBASE_PROJECT or GOOGLE_CLOUD_PROJECT"
            )
