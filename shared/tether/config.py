"""Configuration: the one place that reads the environment (all variables prefixed ``TETHER_``).

:meth:`Settings.from_env` maps ``TETHER_<FIELD>`` onto a frozen pydantic model, which does all
the parsing and validation. It is written here instead of using pydantic-settings because that
package costs ~30 ms of imports (asyncio, cloud secret providers, a CLI parser) on every cold
start, a sixth of a bare function's whole start, for the dozen lines below.

``mode=dev`` (set by ``tether dev``) may generate a missing keyring and dev JWT secret into the
data folder; ``mode=cloud`` (the default, what a deployed function gets) refuses to start with a
missing keyring or with ``auth=dev`` — fail closed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from tether.domain.errors import ConfigurationError

__all__ = ["Settings"]


ENV_PREFIX = "TETHER_"
# Variables read under another name as well (Google's own convention first).
_ALIASES = {"firebase_project": ("GOOGLE_CLOUD_PROJECT",)}

log = logging.getLogger("tether.config")


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

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    task_max_attempts: int = Field(default=8, ge=1, le=100)
    task_worker: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One JSON line per request. Default: on in dev, off in cloud, where Cloud Run already
    # writes a request log entry (status, latency, URL) for every request.
    access_log: bool | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``TETHER_*`` variables (empty values count as unset); ``overrides``
        win. Invalid values are a :class:`ConfigurationError` naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            for var in (ENV_PREFIX + name.upper(), *_ALIASES.get(name, ())):
                if env.get(var):
                    values[name] = env[var]
                    break
        unknown = sorted(
            k
            for k in env
            if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() not in cls.model_fields
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

    @field_validator("public_url", "frontend_url", "jwks_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def access_log_enabled(self) -> bool:
        return self.mode == "dev" if self.access_log is None else self.access_log

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tether.sqlite3"

    @property
    def tasks_path(self) -> Path:
        return self.data_dir / "tasks.sqlite3"

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
    def algorithms(self) -> list[str]:
        return [a.strip() for a in self.jwt_algorithms.split(",") if a.strip()]

    def check(self) -> None:
        """Refuse configurations that would run open or half-configured."""
        if self.mode == "cloud":
            if self.auth == "dev":
                raise ConfigurationError("TETHER_AUTH=dev is only allowed with `tether dev`")
            if self.keyring is None and self.keyring_file is None:
                raise ConfigurationError(
                    "no keyring: set TETHER_KEYRING or TETHER_KEYRING_FILE "
                    "(`tether keys generate` prints one)"
                )
        if self.auth == "jwks" and not (self.jwks_url and self.jwt_issuer and self.jwt_audience):
            raise ConfigurationError(
                "TETHER_AUTH=jwks needs TETHER_JWKS_URL, TETHER_JWT_ISSUER and TETHER_JWT_AUDIENCE"
            )
        if self.auth == "firebase" and not self.firebase_project:
            raise ConfigurationError(
                "TETHER_AUTH=firebase needs TETHER_FIREBASE_PROJECT or GOOGLE_CLOUD_PROJECT"
            )
