"""The Secret Manager emulator, driven by the real ``SecretManagerServiceClient`` over loopback
gRPC: every request and answer goes through the client library's own serialization."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import google_crc32c
import pytest
from google.api_core import exceptions
from google.cloud.secretmanager_v1 import SecretManagerServiceClient, SecretVersion

from tests.support.module_process import module_process
from tether.adapters.secret_manager.client import secret_manager_client as make_client
from tether_emulators.secret_manager import MAX_PAYLOAD_BYTES, SecretManagerEmulator

AUTOMATIC = {"automatic": {}}
ENABLED = SecretVersion.State.ENABLED
DISABLED = SecretVersion.State.DISABLED
DESTROYED = SecretVersion.State.DESTROYED


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def create(client: SecretManagerServiceClient, parent: str, secret_id: str, **secret: object):
    body = {"replication": AUTOMATIC, **secret}
    return client.create_secret(request={"parent": parent, "secret_id": secret_id, "secret": body})


def add(client: SecretManagerServiceClient, secret_name: str, data: bytes):
    payload = {"data": data, "data_crc32c": crc32c(data)}
    return client.add_secret_version(request={"parent": secret_name, "payload": payload})


def access(client: SecretManagerServiceClient, name: str):
    return client.access_secret_version(request={"name": name})


@pytest.fixture
def client(secret_manager_client: SecretManagerServiceClient) -> SecretManagerServiceClient:
    return secret_manager_client


@pytest.fixture
def parent(secret_manager_project: str) -> str:
    return secret_manager_project


@pytest.fixture
def secret(client: SecretManagerServiceClient, parent: str) -> str:
    return create(client, parent, "api-key").name


# --- Lifecycle ------------------------------------------------------------------------------


def test_create_add_access_and_latest(client, parent):
    created = create(client, parent, "stripe_key-1", labels={"env": "dev"})
    assert created.name == f"{parent}/secrets/stripe_key-1"
    assert created.create_time.timestamp() > 0
    assert created.etag.startswith('"') and created.etag.endswith('"')

    first = add(client, created.name, b"sk_one")
    second = add(client, created.name, b"sk_two")
    assert first.name == f"{created.name}/versions/1"
    assert second.name == f"{created.name}/versions/2"
    assert first.state == ENABLED

    assert access(client, first.name).payload.data == b"sk_one"
    latest = access(client, f"{created.name}/versions/latest")
    assert latest.name == second.name  # the alias resolves to the concrete version
    assert latest.payload.data == b"sk_two"

    fetched = client.get_secret(name=created.name)  # the flattened form sends request.name
    assert fetched.name == created.name
    assert dict(fetched.labels) == {"env": "dev"}


def test_latest_is_the_newest_version_even_when_disabled(client, secret):
    add(client, secret, b"old")
    newest = add(client, secret, b"new")
    client.disable_secret_version(request={"name": newest.name})
    with pytest.raises(exceptions.FailedPrecondition, match="DISABLED"):
        access(client, f"{secret}/versions/latest")
    assert access(client, f"{secret}/versions/1").payload.data == b"old"


def test_versions_are_never_renumbered(client, secret):
    add(client, secret, b"a")
    two = add(client, secret, b"b")
    client.destroy_secret_version(request={"name": two.name})
    assert add(client, secret, b"c").name == f"{secret}/versions/3"


# --- CRC32C ---------------------------------------------------------------------------------


def test_checksum_sent_and_verified_both_ways(client, secret):
    data = bytes(range(256)) * 3
    version = add(client, secret, data)
    assert version.client_specified_payload_checksum is True

    answer = access(client, version.name)
    assert answer.payload.data == data
    assert answer.payload.data_crc32c == crc32c(data)


def test_access_sets_the_checksum_even_when_the_writer_sent_none(client, secret):
    version = client.add_secret_version(request={"parent": secret, "payload": {"data": b"plain"}})
    assert version.client_specified_payload_checksum is False
    assert access(client, version.name).payload.data_crc32c == crc32c(b"plain")


def test_wrong_checksum_is_rejected_and_stores_nothing(client, secret):
    payload = {"data": b"payload", "data_crc32c": crc32c(b"payload") ^ 1}
    with pytest.raises(exceptions.InvalidArgument, match="Checksum mismatch"):
        client.add_secret_version(request={"parent": secret, "payload": payload})
    # A zero checksum is a value like any other: the field is `optional`, so it is sent.
    with pytest.raises(exceptions.InvalidArgument, match="Checksum mismatch"):
        client.add_secret_version(
            request={"parent": secret, "payload": {"data": b"payload", "data_crc32c": 0}}
        )
    assert list(client.list_secret_versions(request={"parent": secret})) == []
    assert add(client, secret, b"payload").name == f"{secret}/versions/1"


def test_payload_limit_is_64_kib(client, secret):
    add(client, secret, b"x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(exceptions.InvalidArgument, match="limit"):
        add(client, secret, b"x" * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(exceptions.InvalidArgument, match="payload"):
        client.add_secret_version(request={"parent": secret})


# --- Version states -------------------------------------------------------------------------


def test_disable_destroy(client, secret):
    version = add(client, secret, b"value")

    disabled = client.disable_secret_version(request={"name": version.name})
    assert disabled.state == DISABLED
    with pytest.raises(exceptions.FailedPrecondition, match="is in DISABLED state"):
        access(client, version.name)

    destroyed = client.destroy_secret_version(request={"name": version.name})
    assert destroyed.state == DESTROYED
    assert destroyed.destroy_time.timestamp() >= version.create_time.timestamp()
    with pytest.raises(exceptions.FailedPrecondition, match="is in DESTROYED state"):
        access(client, version.name)
    with pytest.raises(exceptions.FailedPrecondition):
        client.destroy_secret_version(request={"name": version.name})
    with pytest.raises(exceptions.FailedPrecondition):
        client.disable_secret_version(request={"name": version.name})
    # The metadata outlives the data.
    [listed] = client.list_secret_versions(request={"parent": secret})
    assert (listed.name, listed.state) == (version.name, DESTROYED)


# --- Errors ---------------------------------------------------------------------------------


def test_not_found_and_already_exists(client, parent, secret):
    with pytest.raises(exceptions.AlreadyExists):
        create(client, parent, "api-key")
    with pytest.raises(exceptions.NotFound):
        client.get_secret(request={"name": f"{parent}/secrets/missing"})
    with pytest.raises(exceptions.NotFound):
        add(client, f"{parent}/secrets/missing", b"x")
    with pytest.raises(exceptions.NotFound):
        access(client, f"{secret}/versions/latest")  # no version yet
    add(client, secret, b"x")
    with pytest.raises(exceptions.NotFound):
        access(client, f"{secret}/versions/7")
    with pytest.raises(exceptions.NotFound):
        client.disable_secret_version(request={"name": f"{secret}/versions/7"})


@pytest.mark.parametrize(
    "name",
    [
        "secrets/x/versions/1",
        "projects/p/secrets/x",  # a secret where a version is expected
        "projects/p/secrets/bad.id/versions/1",
        "projects/p/secrets/x/versions/1/extra",
        "projects//secrets/x/versions/1",
    ],
)
def test_malformed_names_are_invalid(client, name):
    with pytest.raises(exceptions.InvalidArgument):
        access(client, name)


def test_create_validates_its_input(client, parent):
    for secret_id in ("", "has space", "dot.ted", "x" * 256):
        with pytest.raises(exceptions.InvalidArgument):
            create(client, parent, secret_id)
    assert create(client, parent, "x" * 255).name.endswith("x" * 255)
    with pytest.raises(exceptions.InvalidArgument, match="replication"):
        client.create_secret(request={"parent": parent, "secret_id": "norep", "secret": {}})
    with pytest.raises(exceptions.InvalidArgument):
        create(client, parent, "noreplica", replication={"user_managed": {"replicas": []}})
    with pytest.raises(exceptions.InvalidArgument, match="label"):
        create(client, parent, "badlabel", labels={"Env": "x"})
    with pytest.raises(exceptions.InvalidArgument):
        create(client, "organizations/o", "x")


def test_unimplemented_methods_say_so(client, secret):
    version = add(client, secret, b"value").name
    with pytest.raises(exceptions.MethodNotImplemented):
        client.get_iam_policy(request={"resource": secret})
    # Nothing in Tether calls these: not emulated, and saying so.
    with pytest.raises(exceptions.MethodNotImplemented):
        client.update_secret(
            request={"secret": {"name": secret, "labels": {}}, "update_mask": {"paths": ["labels"]}}
        )
    with pytest.raises(exceptions.MethodNotImplemented):
        client.enable_secret_version(request={"name": version})
    with pytest.raises(exceptions.MethodNotImplemented):
        client.get_secret_version(request={"name": version})


@pytest.mark.parametrize(
    "field",
    [
        {"annotations": {"a": "b"}},
        {"version_aliases": {"stable": 1}},
        {"topics": [{"name": "projects/p/topics/t"}]},
        {"rotation": {"rotation_period": timedelta(days=30)}},
        {"ttl": timedelta(minutes=5)},
        {"expire_time": datetime(2099, 1, 1, tzinfo=UTC)},
        {"version_destroy_ttl": timedelta(days=1)},
        {"customer_managed_encryption": {"kms_key_name": "projects/p/locations/l/keyRings/r/k"}},
    ],
    ids=lambda field: next(iter(field)),
)
def test_secret_fields_tether_never_sets_are_refused_not_ignored(client, parent, field):
    with pytest.raises(exceptions.InvalidArgument, match="not emulated"):
        create(client, parent, "unsupported", **field)
    with pytest.raises(exceptions.NotFound):
        client.get_secret(name=f"{parent}/secrets/unsupported")


def test_regional_secrets_and_etag_preconditions_are_refused(client, parent, secret):
    with pytest.raises(exceptions.InvalidArgument, match="regional"):
        client.create_secret(
            request={"parent": f"{parent}/locations/us-east1", "secret_id": "r", "secret": {}}
        )
    version = add(client, secret, b"value").name
    etag = client.get_secret(name=secret).etag
    with pytest.raises(exceptions.InvalidArgument, match="etag"):
        client.delete_secret(request={"name": secret, "etag": etag})
    with pytest.raises(exceptions.InvalidArgument, match="etag"):
        client.disable_secret_version(request={"name": version, "etag": '"1"'})
    assert access(client, version).payload.data == b"value"  # nothing changed


# --- Lists ----------------------------------------------------------------------------------


def test_list_secrets_paginates_in_name_order(client, parent):
    for secret_id in ("e", "c", "a", "d", "b"):
        create(client, parent, secret_id)
    pager = client.list_secrets(request={"parent": parent, "page_size": 2})
    pages = [[s.name.rsplit("/", 1)[1] for s in page.secrets] for page in pager.pages]
    assert pages == [["a", "b"], ["c", "d"], ["e"]]

    first = client.list_secrets(request={"parent": parent, "page_size": 2})
    assert first.total_size == 5
    with pytest.raises(exceptions.InvalidArgument):
        list(client.list_secrets(request={"parent": parent, "page_token": "not-a-token"}))
    other = f"{parent}-other"
    with pytest.raises(exceptions.InvalidArgument):  # a token is bound to its parent
        list(client.list_secrets(request={"parent": other, "page_token": first.next_page_token}))


def test_list_filters_are_refused_not_ignored(client, parent, secret):
    # The filter language is not emulated; an unfiltered answer would pass for a filtered one.
    with pytest.raises(exceptions.InvalidArgument, match="not emulated"):
        list(client.list_secrets(request={"parent": parent, "filter": "labels.env=prod"}))
    with pytest.raises(exceptions.InvalidArgument, match="not emulated"):
        list(client.list_secret_versions(request={"parent": secret, "filter": "state:ENABLED"}))


def test_list_versions_newest_first_with_their_states(client, secret):
    for data in (b"1", b"2", b"3", b"4"):
        add(client, secret, data)
    client.disable_secret_version(request={"name": f"{secret}/versions/2"})
    client.destroy_secret_version(request={"name": f"{secret}/versions/3"})

    def numbers(**request: object) -> list[int]:
        pager = client.list_secret_versions(request={"parent": secret, **request})
        return [int(v.name.rsplit("/", 1)[1]) for v in pager]

    assert numbers() == [4, 3, 2, 1]
    states = {
        v.name.rsplit("/", 1)[1]: v.state.name for v in client.list_secret_versions(parent=secret)
    }
    assert states == {"4": "ENABLED", "3": "DESTROYED", "2": "DISABLED", "1": "ENABLED"}

    pager = client.list_secret_versions(request={"parent": secret, "page_size": 3})
    assert [len(page.versions) for page in pager.pages] == [3, 1]
    assert client.list_secret_versions(request={"parent": secret}).total_size == 4
    with pytest.raises(exceptions.NotFound):
        list(client.list_secret_versions(request={"parent": f"{secret}-missing"}))


# --- Delete, round trips ------------------------------------------------------------------


def test_delete_secret_takes_its_versions(client, parent, secret):
    version = add(client, secret, b"gone")
    client.delete_secret(name=secret)

    with pytest.raises(exceptions.NotFound):
        access(client, version.name)
    with pytest.raises(exceptions.NotFound):
        client.get_secret(name=secret)
    with pytest.raises(exceptions.NotFound):
        client.delete_secret(name=secret)
    # The id is free again, and the new secret starts from version 1.
    create(client, parent, "api-key")
    assert add(client, secret, b"again").name == f"{secret}/versions/1"


def test_labels_and_user_managed_replication_round_trip(client, parent):
    kms = "projects/p/locations/us-east1/keyRings/r/cryptoKeys/k"
    replication = {
        "user_managed": {
            "replicas": [
                {"location": "us-east1", "customer_managed_encryption": {"kms_key_name": kms}},
                {"location": "europe-west1"},
            ]
        }
    }
    created = create(
        client,
        parent,
        "replicated",
        labels={"env": "prod", "owner": "team-a"},
        replication=replication,
    )
    fetched = client.get_secret(name=created.name)
    assert dict(fetched.labels) == {"env": "prod", "owner": "team-a"}
    replicas = fetched.replication.user_managed.replicas
    assert [r.location for r in replicas] == ["us-east1", "europe-west1"]
    assert replicas[0].customer_managed_encryption.kms_key_name == kms
    assert not replicas[1].customer_managed_encryption.kms_key_name

    status = add(client, created.name, b"v").replication_status.user_managed.replicas
    assert [r.location for r in status] == ["us-east1", "europe-west1"]
    assert status[0].customer_managed_encryption.kms_key_version_name.startswith(kms + "/")


# --- A dedicated emulator: counters, command line -------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def own_emulator(clock: FakeClock) -> Iterator[SecretManagerEmulator]:
    emulator = SecretManagerEmulator(clock=clock)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def own_client(own_emulator: SecretManagerEmulator) -> Iterator[SecretManagerServiceClient]:
    client = make_client(own_emulator.address)
    yield client
    client.transport.close()


def test_counters(own_emulator, own_client):
    secret = create(own_client, "projects/p", "counted").name
    version = add(own_client, secret, b"v").name
    access(own_client, version)
    access(own_client, version)
    own_client.disable_secret_version(request={"name": version})
    with pytest.raises(exceptions.FailedPrecondition):
        access(own_client, version)
    own_client.get_secret(name=secret)
    list(own_client.list_secrets(request={"parent": "projects/p"}))
    own_client.delete_secret(name=secret)

    stats = own_emulator.stats
    assert stats["CreateSecret"] == 1
    assert stats["AddSecretVersion"] == 1
    assert stats["AccessSecretVersion"] == 3
    assert stats["DisableSecretVersion"] == 1
    assert stats["GetSecret"] == 1
    assert stats["ListSecrets"] == 1
    assert stats["DeleteSecret"] == 1
    assert own_emulator.writes == 4  # create, add, disable, delete
    assert own_emulator.errors["AccessSecretVersion"] == 1
    assert own_emulator.secret_count == 0

    own_emulator.reset_stats()
    assert own_emulator.writes == 0
    assert set(own_emulator.stats.values()) == {0}


def test_command_line_prints_the_address_and_stops_on_sigterm():
    with module_process("tether_emulators.secret_manager", "--port", "0") as process:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("export SECRET_MANAGER_EMULATOR_HOST=127.0.0.1:")
        client = make_client(line.split("=", 1)[1])
        try:
            secret = create(client, "projects/cli", "s").name
            assert access(client, add(client, secret, b"cli").name).payload.data == b"cli"
        finally:
            client.transport.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
