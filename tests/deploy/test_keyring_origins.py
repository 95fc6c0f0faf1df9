"""The keyring kept in a secret manager: Secret Manager (the project's emulator) and AWS
Secrets Manager (moto's server on loopback), each through the real client library. For each:
instances load it, ``tether keys generate --add`` writes a new version, ``tether keys
rotate`` reseals what the store holds under the new primary, ``tether keys retire`` drops the
old key, and the credential still decrypts through a fresh container."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.support.deployment import keyring_secret_version
from tether.adapters.aws_secrets import AwsSecretsKeyringOrigin
from tether.adapters.secret_manager import client as secret_manager_adapter
from tether.adapters.secret_manager.keyring import SecretManagerKeyringOrigin
from tether.bootstrap import Container
from tether.cli import main
from tether.config import Settings
from tether.crypto import Keyring
from tether.crypto.remote_keyring_source import KeyringOrigin, RemoteKeyringSource
from tether.domain.errors import BackendUnavailable, ConfigurationError
from tether.domain.models import Connection

T0 = datetime(2026, 5, 1, tzinfo=UTC)
AWS_REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_environment(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": AWS_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


# Each origin kind: (make an empty secret, returning the settings that name it).
Origin = Callable[[pytest.MonkeyPatch, str], dict[str, str]]


def _secret_manager(monkeypatch: pytest.MonkeyPatch, first_version: str) -> dict[str, str]:
    client = secret_manager_adapter.secret_manager_client()
    project = f"projects/test-{uuid.uuid4().hex[:12]}"
    version = keyring_secret_version(client, project, first_version)
    client.transport.close()
    return {"TETHER_KEYRING_SECRET": version}


def _aws(monkeypatch: pytest.MonkeyPatch, first_version: str) -> dict[str, str]:
    name = f"tether/keyring-{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=first_version)
    return {"TETHER_KEYRING_AWS_SECRET": name, "TETHER_KEYRING_AWS_REGION": AWS_REGION}


@pytest.fixture(params=["secret_manager", "aws_secrets_manager"])
def keyring_origin(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[[str], dict[str, str]]:
    if request.param == "secret_manager":
        emulator = request.getfixturevalue("secret_manager_emulator")
        monkeypatch.setenv(secret_manager_adapter.EMULATOR_HOST_VAR, emulator)
        make: Origin = _secret_manager
    else:
        request.getfixturevalue("aws_environment")
        make = _aws

    def create(first_version: str) -> dict[str, str]:
        names = make(monkeypatch, first_version)
        for name, value in names.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("TETHER_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("TETHER_MODE", "dev")
        monkeypatch.setenv("TETHER_AUTH", "dev")
        return names

    return create


def _container() -> Container:
    return Container(Settings.from_env(task_worker=False))


def _store_credential(container: Container) -> Connection:
    ref = container.secrets.put(
        tenant_id="acme", connection_id="conn_1", provider="stripe", payload={"api_key": "sk_x1"}
    )
    connection = Connection(
        id="conn_1",
        tenant_id="acme",
        provider="stripe",
        auth_mode="api_key",
        display_name="Stripe",
        credential_ref=ref,
        created_at=T0,
        updated_at=T0,
        created_by="u",
    )
    container.store.create_connection(connection)
    return connection


def test_load_rotate_retire_and_decrypt(
    keyring_origin: Callable[[str], dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    keyring_origin(Keyring.generate("kold").to_json())
    container = _container()
    try:
        assert isinstance(container.keyring_source, RemoteKeyringSource)
        assert container.keyring.primary == "kold"
        connection = _store_credential(container)
    finally:
        container.close()

    assert main(["keys", "generate", "--add", "--id", "knew"]) == 0
    assert "added key knew as primary" in capsys.readouterr().out
    # Still sealed under kold: retiring it is refused.
    assert main(["keys", "retire", "kold"]) == 1
    assert "still seals 1 credential payloads" in capsys.readouterr().err

    assert main(["keys", "rotate"]) == 0
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert report["primary_key_id"] == "knew"
    assert report["kinds"]["credential_payloads"]["resealed"] == 1

    assert main(["keys", "retire", "kold"]) == 0
    out, err = capsys.readouterr()
    assert "removed key kold" in out
    assert "sk_x1" not in out + err

    container = _container()
    try:
        assert container.keyring.key_ids == ("knew",)
        stored = container.store.get_connection("acme", "conn_1")
        assert stored is not None and stored.credential_ref is not None
        payload = container.secrets.get(
            tenant_id="acme", connection_id=connection.id, ref=stored.credential_ref
        )
        assert payload == {"api_key": "sk_x1"}
    finally:
        container.close()


def test_an_unusable_origin_stops_the_instance(
    keyring_origin: Callable[[str], dict[str, str]],
) -> None:
    keyring_origin("not a keyring")
    with pytest.raises(ConfigurationError):
        _ = _container().keyring


def test_a_missing_secret_is_named_without_values(aws_environment: str) -> None:
    origin: KeyringOrigin = AwsSecretsKeyringOrigin(
        boto3.client("secretsmanager"), "tether/no-such-keyring"
    )
    with pytest.raises(BackendUnavailable) as failed:
        origin.read()
    assert "tether/no-such-keyring" in failed.value.message
    assert "ResourceNotFoundException" in failed.value.message


def test_a_keyring_secret_setting_must_name_a_version() -> None:
    with pytest.raises(ConfigurationError):
        SecretManagerKeyringOrigin(None, "projects/p/secrets/tetherapp-keyring")  # type: ignore[arg-type]


def test_one_keyring_origin_at_a_time() -> None:
    settings = Settings(
        keyring_secret="projects/p/secrets/k/versions/latest",
        keyring='{"primary": "k", "keys": {}}',  # type: ignore[arg-type]
        auth="jwks",
    )
    with pytest.raises(ConfigurationError, match="one keyring origin at a time"):
        settings.check()
