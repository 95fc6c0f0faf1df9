"""Domain: status machine, error data, ids."""

from __future__ import annotations

import pytest

from tether.domain import (
    Conflict,
    ConnectionStatus,
    NotFound,
    RandomIds,
    TetherError,
    check_transition,
)
from tether.domain.ids import is_well_formed


def test_status_machine() -> None:
    check_transition(ConnectionStatus.PENDING, ConnectionStatus.ACTIVE)
    check_transition(ConnectionStatus.ACTIVE, ConnectionStatus.NEEDS_REAUTH)
    check_transition(ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.ACTIVE)
    check_transition(ConnectionStatus.ERROR, ConnectionStatus.DISABLED)
    with pytest.raises(Conflict):
        check_transition(ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.ERROR)


def test_errors_are_data() -> None:
    error = NotFound("no such connection", code="CONNECTION_NOT_FOUND")
    assert (error.http_status, error.retryable) == (404, False)
    assert error.to_dict() == {"code": "CONNECTION_NOT_FOUND", "message": "no such connection"}
    assert isinstance(error, TetherError)


def test_connection_ids_are_opaque_and_unguessable() -> None:
    ids = RandomIds()
    made = {ids.new("conn") for _ in range(1000)}
    assert len(made) == 1000
    for value in made:
        assert value.startswith("conn_") and len(value) >= 5 + 22
        assert is_well_formed(value)
    assert not is_well_formed("conn_../../x")
