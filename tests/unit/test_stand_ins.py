"""The command reaches the local stand-ins (emulators, the demo OAuth provider) through the
entry points of the ``tether-emulators`` distribution only, and says what to install when one
is missing."""

from __future__ import annotations

import socket
from importlib.metadata import entry_points

import httpx
import pytest

from tether import cli, stand_ins


def test_the_stand_ins_distribution_registers_what_the_command_runs() -> None:
    registered = {ep.name: ep.value for ep in entry_points(group=stand_ins.GROUP)}
    assert set(registered) == {"gcp_emulators", "demo_oauth_provider", "provider_simulators"}
    assert all(value.startswith("tether_emulators.") for value in registered.values())


def test_a_missing_stand_in_names_the_package_to_install() -> None:
    with pytest.raises(stand_ins.StandInMissing) as missing:
        stand_ins._load("no_such_stand_in", "tether frobnicate")
    message = str(missing.value.code)
    assert message.startswith("tether: tether frobnicate needs the tether-emulators package")
    assert "make install" in message


def test_the_demo_provider_starts_through_the_boundary() -> None:
    provider = stand_ins.start_demo_oauth_provider(
        host="127.0.0.1",
        port=0,
        client_id="tether-demo",
        client_secret="demo-secret-0123456789",
        redirect_uri="http://127.0.0.1:9/oauth_callback/",
    )
    try:
        provider.issuer = f"http://127.0.0.1:{provider.port}"
        metadata = httpx.get(
            f"http://127.0.0.1:{provider.port}/.well-known/oauth-authorization-server",
            timeout=5,
        )
        assert metadata.status_code == 200
        assert metadata.json()["issuer"] == provider.issuer
    finally:
        provider.stop()


def _start_demo(port: int) -> stand_ins.DemoProvider:
    return stand_ins.start_demo_oauth_provider(
        host="127.0.0.1",
        port=port,
        client_id="tether-demo",
        client_secret="demo-secret-0123456789",
        redirect_uri="http://127.0.0.1:9/oauth_callback/",
    )


def test_the_demo_provider_takes_a_free_port_when_its_port_is_taken_before_it_binds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two `tether dev` starting at once both find the default port free; the one that loses
    the bind takes a free port instead of failing to start."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        provider = cli._listen_on_first(_start_demo, [port, 0])
        try:
            assert provider.port not in (port, 0)
            answer = httpx.get(
                f"http://127.0.0.1:{provider.port}/.well-known/oauth-authorization-server",
                timeout=5,
            )
            assert answer.status_code == 200
        finally:
            provider.stop()
        assert f"port {port} was taken meanwhile" in caplog.text
        # A port asked for explicitly has no fallback: the command says what to do.
        with pytest.raises(SystemExit, match="--demo-provider-port") as refused:
            cli._listen_on_first(_start_demo, [port])
        assert f"port {port}" in str(refused.value.code)
