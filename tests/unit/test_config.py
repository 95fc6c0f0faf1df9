"""Settings from the environment, and the refusal of unsafe configurations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tether.config import Settings
from tether.domain.errors import ConfigurationError
from tether.domain.retention import Retention


def test_reads_prefixed_variables_and_aliases() -> None:
    settings = Settings.from_env(
        {
            "TETHER_MODE": "dev",
            "TETHER_AUTH": "dev",
            "TETHER_DATA_DIR": "/srv/tether",
            "TETHER_TASK_WORKER": "false",
            "TETHER_MAX_BODY_BYTES": "2048",
            "TETHER_FRONTEND_URL": "https://a.example/, https://b.example",
            "GOOGLE_CLOUD_PROJECT": "proj-9",
            "TETHER_KEYRING": "",  # empty counts as unset
        }
    )
    assert settings.mode == "dev"
    assert settings.data_dir == Path("/srv/tether")
    assert settings.task_worker is False
    assert settings.max_body_bytes == 2048
    assert settings.firebase_project == "proj-9"
    assert settings.keyring is None
    assert settings.cors_origins == {"https://a.example", "https://b.example"}


def test_overrides_win() -> None:
    assert Settings.from_env({"TETHER_TASK_WORKER": "true"}, task_worker=False).task_worker is False


def test_invalid_values_name_the_variable_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="TETHER_STORE") as info:
        Settings.from_env({"TETHER_STORE": "mongodb-secret-ish"})
    assert "mongodb-secret-ish" not in info.value.message


def test_cloud_mode_fails_closed() -> None:
    with pytest.raises(ConfigurationError, match="no keyring"):
        Settings.from_env({"TETHER_FIREBASE_PROJECT": "p"}).check()
    with pytest.raises(ConfigurationError, match="only allowed with `tether dev`"):
        Settings.from_env({"TETHER_AUTH": "dev", "TETHER_KEYRING": "{}"}).check()
    with pytest.raises(ConfigurationError, match="TETHER_JWKS_URL"):
        Settings.from_env({"TETHER_AUTH": "jwks", "TETHER_KEYRING": "{}"}).check()
    Settings.from_env({"TETHER_FIREBASE_PROJECT": "p", "TETHER_KEYRING": "{}"}).check()


def test_cloud_mode_refuses_the_stand_ins_api_base_urls() -> None:
    base = {"TETHER_FIREBASE_PROJECT": "p", "TETHER_KEYRING": "{}"}
    urls = {"TETHER_CATALOG_API_BASE_URLS": '{"stripe": "http://127.0.0.1:9000/v1"}'}
    with pytest.raises(ConfigurationError, match="TETHER_CATALOG_API_BASE_URLS") as info:
        Settings.from_env({**base, **urls}).check()
    assert "127.0.0.1" not in info.value.message
    Settings.from_env({**base, **urls, "TETHER_MODE": "dev"}).check()


def test_access_log_defaults_on_in_dev_off_in_cloud() -> None:
    assert Settings.from_env({"TETHER_MODE": "dev"}).access_log_enabled is True
    assert Settings.from_env({}).access_log_enabled is False
    assert Settings.from_env({"TETHER_ACCESS_LOG": "true"}).access_log_enabled is True
    assert (
        Settings.from_env({"TETHER_MODE": "dev", "TETHER_ACCESS_LOG": "0"}).access_log_enabled
        is False
    )


def test_unknown_variables_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    Settings.from_env({"TETHER_KEYRNG": "typo", "TETHER_MODE": "dev"})
    assert "TETHER_KEYRNG" in caplog.text
    assert "typo" not in caplog.text


def test_gcp_backends_need_their_settings() -> None:
    base = {"TETHER_KEYRING": "{}", "TETHER_FIREBASE_PROJECT": "p"}
    with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT"):
        Settings.from_env({**base, "TETHER_STORE": "firestore"}).check()
    with pytest.raises(ConfigurationError, match="TETHER_TASKS_URL"):
        Settings.from_env(
            {**base, "GOOGLE_CLOUD_PROJECT": "p", "TETHER_TASKS": "cloud_tasks"}
        ).check()
    with pytest.raises(ConfigurationError, match="only allowed with `tether dev`"):
        Settings.from_env({**base, "TETHER_TASKS_AUTH": "token"}).check()
    settings = Settings.from_env(
        {
            **base,
            "GOOGLE_CLOUD_PROJECT": "p",
            "TETHER_STORE": "firestore",
            "TETHER_SECRETS": "secret_manager",
            "TETHER_TASKS": "cloud_tasks",
            "TETHER_TASKS_URL": "https://tasks.example/",
            "TETHER_TASKS_SERVICE_ACCOUNT": "sa@p.iam.gserviceaccount.com",
            "TETHER_SECRET_LOCATIONS": "europe-west1, europe-west4",
        }
    )
    settings.check()
    assert settings.gcp_project == "p" and settings.tasks_url == "https://tasks.example"
    assert settings.task_auth_mode == "oidc"
    assert settings.secret_location_list == ["europe-west1", "europe-west4"]
    assert settings.task_queue("refresh") == "tether-refresh"
    assert settings.task_queue("purge_credentials") == "tether-default"


def test_retention_settings_have_defaults_and_are_validated() -> None:
    defaults = Settings.from_env({}).retention
    assert defaults == Retention()
    assert (defaults.finished_tasks, defaults.deliveries) == (timedelta(days=7), timedelta(days=30))
    assert (defaults.webhook_events, defaults.audit) == (timedelta(days=7), timedelta(days=365))
    assert Settings.from_env({}).housekeeping_interval_seconds == 3600
    chosen = Settings.from_env(
        {
            "TETHER_RETENTION_FINISHED_TASKS_DAYS": "2",
            "TETHER_RETENTION_DELIVERIES_DAYS": "14",
            "TETHER_RETENTION_WEBHOOK_EVENTS_DAYS": "3",
            "TETHER_RETENTION_AUDIT_DAYS": "90",
            "TETHER_HOUSEKEEPING_INTERVAL_SECONDS": "600",
        }
    )
    assert chosen.retention == Retention(
        finished_tasks=timedelta(days=2),
        deliveries=timedelta(days=14),
        webhook_events=timedelta(days=3),
        audit=timedelta(days=90),
    )
    assert defaults.deleted_records is None  # synced records deleted at the source are kept
    kept_a_week = Settings.from_env({"TETHER_RETENTION_DELETED_RECORDS_DAYS": "7"}).retention
    assert kept_a_week.deleted_records == timedelta(days=7)
    for variable, value in (
        ("TETHER_RETENTION_DELETED_RECORDS_DAYS", "0"),
        ("TETHER_RETENTION_DELIVERIES_DAYS", "0"),
        ("TETHER_RETENTION_AUDIT_DAYS", "-1"),
        ("TETHER_RETENTION_FINISHED_TASKS_DAYS", "forever"),
        ("TETHER_HOUSEKEEPING_INTERVAL_SECONDS", "5"),
    ):
        with pytest.raises(ConfigurationError, match=variable):
            Settings.from_env({variable: value})
    with pytest.raises(ValueError, match="positive"):
        Retention(audit=timedelta(0))


def test_the_secret_tombstones_retention_is_a_setting() -> None:
    assert Settings.from_env({}).retention.secret_tombstones == timedelta(days=90)
    chosen = Settings.from_env({"TETHER_RETENTION_SECRET_TOMBSTONES_DAYS": "14"})
    assert chosen.retention.secret_tombstones == timedelta(days=14)
    with pytest.raises(ConfigurationError, match="TETHER_RETENTION_SECRET_TOMBSTONES_DAYS"):
        Settings.from_env({"TETHER_RETENTION_SECRET_TOMBSTONES_DAYS": "0"})
