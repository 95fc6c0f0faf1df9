"""Running a connection's typed actions: what it can do, and doing one.

:meth:`ActionRunner.available` lists the catalog actions of the connection's provider whose
scopes the connection was granted (any one of an action's scopes suffices; an action without
scopes, or a connection that records none, as an API key's, needs none). :meth:`ActionRunner.run`:

1. the connection must be active (``needs_reauth`` says to reconnect), the action known and
   granted;
2. the input is checked against the action's input schema (400 ``INVALID_INPUT`` naming the
   field) and its top-level defaults filled in;
3. with an ``Idempotency-Key``, the key (hashed, per tenant) is claimed: a key whose run is
   done answers that run's output (or kept failure) again (``replayed``) for 24 h, one
   still running answers 409 ``IDEMPOTENCY_IN_PROGRESS``, one used for another request 422
   ``IDEMPOTENCY_KEY_REUSED``;
4. the request goes through the connection's sender (:class:`~tether.fetch.calls.ConnectionCalls`:
   auth with one refresh after a 401, rate limit, SSRF guard, destination binding); a refusal
   is :class:`~tether.actions.provider_call.ActionFailed` with a connection test's code and
   suggestion;
5. the output is checked against the output schema and credential values are masked in it;
6. one audit entry (``action.run``: the action, the outcome, the input's field *names*),
   written however the run ends: a refusal records its code, anything else (a bug, an
   unexpected library error) ``INTERNAL``, never the exception's text.

A run that fails frees its idempotency key, so the caller's retry runs again, unless the
provider has acted: a request of the run that may change something (not a GET) answered
with a 2xx, the run failing after it (an answer that is not what the action promises, a
bug). Then the failure is kept as the key's answer and replayed, as Stripe keeps a failed
request's result: freeing the key would let the retry create a second contact or send a
second email (an action that sends the key on to its provider, Stripe's, is deduplicated
there, and frees it). A run whose provider call succeeded
but whose key could not be marked done keeps the key claimed until it lapses, so a retry then
does not act twice either.

The ``action.run`` entry is the only record of the run's use of the credentials (an API key
is read without a ``credentials.read`` entry beside it:
:meth:`~tether.connections.service.ConnectionService.credentials_audited_by_caller`), and it
is written after the provider call. That is fail-closed all the same when the store cannot
write: every attempt of the outbound client first takes a permit of the shared rate limit
(:class:`~tether.http.rate_limit_store.StoreRateLimiter`), a write to the same store the
audit log lives in, so a store that refuses writes stops the run before the request carrying
the credentials is sent, and the caller gets an error, not an unrecorded action. (A store
that fails *during* the provider call, after the permit, can still lose the entry.)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tether.actions.functions import ActionFunction, action_functions
from tether.actions.mapping import MISSING, dig, render_request
from tether.actions.provider_call import ActionFailed, ProviderCall
from tether.catalog.action_catalog import ActionCatalog
from tether.catalog.action_definition import ActionDefinition
from tether.connections.service import ConnectionService
from tether.domain.audit import audit_entry
from tether.domain.clock import Clock
from tether.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound, TetherError
from tether.domain.ids import IdGenerator
from tether.domain.models import Connection, IdempotencyRecord, Principal
from tether.domain.status import ConnectionStatus
from tether.fetch.calls import ConnectionCalls
from tether.fetch.outcomes import OutcomeCode
from tether.ports import AuditLog, IdempotencyKeys

__all__ = ["ACTION_RUN", "ActionResult", "ActionRunner", "available_actions"]

ACTION_RUN = "action.run"
# The code of a run that ended in anything but a TetherError (as the API answers it).
INTERNAL = "INTERNAL"
IDEMPOTENCY_TTL = timedelta(hours=24)
# A claimed key whose run never ended (the instance died) is free again after this.
PENDING_TTL = timedelta(minutes=5)
# The longest field name an input error shows.
_FIELD_CHARS = 100
# Matched whole (fullmatch): a "$" would also match before a final line feed.
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class ActionResult:
    output: dict[str, Any]
    replayed: bool = False


def available_actions(
    connection: Connection, actions: Mapping[str, ActionDefinition]
) -> list[ActionDefinition]:
    """The actions ``connection``'s granted scopes allow, in catalog order."""
    granted = set(connection.scopes)
    return [
        action
        for action in actions.values()
        if not action.scopes or not granted or granted & set(action.scopes)
    ]


def _field_of(error: Any) -> str:
    """The input field a jsonschema error is about: the missing or extra property for
    ``required`` and ``additionalProperties``, else the error's path."""
    path = [str(p) for p in error.absolute_path]
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        path.append(missing[0] if missing else "")
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties") or {})
        extra = sorted(name for name in instance if name not in allowed)
        path.append(extra[0] if extra else "")
    field = ".".join(p for p in path if p) or "input"
    # The caller's own key names: shown cut short, not echoed whole.
    return field if len(field) <= _FIELD_CHARS else field[: _FIELD_CHARS - 1] + "…"


def check_input(action: ActionDefinition, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked against the input schema, with its top-level defaults filled in."""
    error = action.input_check.first_error(values)
    if error is not None:
        field = _field_of(error)
        problem = {
            "required": "is required",
            "additionalProperties": "is not an input of this action",
        }.get(str(error.validator), f"fails its schema ({error.validator})")
        raise InvalidRequest(
            f"input field '{field}' {problem}",
            code="INVALID_INPUT",
            details={"field": field, "action": action.name},
        )
    filled = dict(values)
    for name, schema in (action.input.get("properties") or {}).items():
        if name not in filled and isinstance(schema, dict) and "default" in schema:
            filled[name] = schema["default"]
    return filled


def _check_output(action: ActionDefinition, output: Any, auth_kind: str) -> dict[str, Any]:
    error = action.output_check.first_error(output)
    if error is not None or not isinstance(output, dict):
        where = ".".join(str(p) for p in error.absolute_path) if error is not None else ""
        raise ActionFailed.of(
            OutcomeCode.PROVIDER_ERROR,
            f"The provider's answer does not have the shape of this action's output "
            f"({where or 'the answer itself'}).",
            auth_kind=auth_kind,
        )
    return output


class ActionRunner:
    def __init__(
        self,
        *,
        connections: ConnectionService,
        calls: Callable[[], ConnectionCalls],
        actions: Callable[[], ActionCatalog],
        keys: Callable[[], IdempotencyKeys],
        audit: AuditLog,
        clock: Clock,
        ids: IdGenerator,
        functions: Callable[[], Mapping[str, ActionFunction]] = action_functions,
    ) -> None:
        self._connections = connections
        self._calls = calls
        self._actions = actions
        self._keys = keys
        self._audit = audit
        self._clock = clock
        self._ids = ids
        self._functions = functions

    def definitions(self, provider: str) -> Mapping[str, ActionDefinition]:
        return self._actions().get(provider, {})

    def available(
        self, principal: Principal, connection_id: str
    ) -> tuple[Connection, list[ActionDefinition]]:
        connection = self._connections.get(principal, connection_id)
        return connection, available_actions(connection, self.definitions(connection.provider))

    def run(
        self,
        principal: Principal,
        connection_id: str,
        name: str,
        values: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        connection = self._connections.get(principal, connection_id)
        action = self._action(connection, name)
        filled = check_input(action, values)
        claim = self._claim(principal, connection, name, filled, idempotency_key)
        if isinstance(claim, ActionResult):
            self._record(principal, connection, name, values, ok=True, replayed=True)
            return claim
        calls: list[ProviderCall] = []
        try:
            output = self._execute(principal, connection, action, filled, idempotency_key, calls)
        except TetherError as error:
            self._failed(
                principal,
                connection,
                name,
                values,
                claim,
                error,
                acted=_provider_acted(action, calls),
            )
            raise
        except BaseException:
            # A bug or an unexpected library error: the run is recorded all the same, by its
            # code only (the exception's text may quote anything, a credential included).
            internal = TetherError("the action failed inside Tether", code=INTERNAL)
            acted = _provider_acted(action, calls)
            self._failed(principal, connection, name, values, claim, internal, acted=acted)
            raise
        if claim is not None:
            try:
                self._keys().complete_idempotency_key(
                    principal.tenant_id,
                    claim.key,
                    owner=claim.owner,
                    answer={"output": output},
                    expires_at=self._clock.now() + IDEMPOTENCY_TTL,
                )
            except BaseException as error:
                # The provider has acted: the key stays claimed until it lapses (PENDING_TTL),
                # so a retry meanwhile answers IDEMPOTENCY_IN_PROGRESS instead of acting twice.
                code = error.code if isinstance(error, TetherError) else INTERNAL
                self._record(principal, connection, name, values, ok=False, code=code)
                raise
        self._record(principal, connection, name, values, ok=True)
        return ActionResult(output)

    # -- steps --------------------------------------------------------------------------------

    def _action(self, connection: Connection, name: str) -> ActionDefinition:
        if connection.status == ConnectionStatus.NEEDS_REAUTH:
            raise Conflict(
                "the connection needs to be reconnected before it can act",
                code="NEEDS_REAUTH",
                details={"suggestion": "Reconnect the account: its authorization has ended."},
            )
        if connection.status != ConnectionStatus.ACTIVE:
            raise Conflict(
                f"the connection is {connection.status.value}, not active",
                code="CONNECTION_NOT_ACTIVE",
            )
        action = self.definitions(connection.provider).get(name)
        if action is None:
            raise NotFound(
                f"{connection.provider} has no action '{name}'"[:200], code="ACTION_NOT_FOUND"
            )
        if action not in available_actions(connection, {name: action}):
            raise Forbidden(
                f"the connection was not granted a scope this action needs: "
                f"{' or '.join(action.scopes)}",
                code="MISSING_SCOPE",
                details={"scopes": list(action.scopes)},
            )
        return action

    def _claim(
        self,
        principal: Principal,
        connection: Connection,
        name: str,
        values: Mapping[str, Any],
        key: str | None,
    ) -> IdempotencyRecord | ActionResult | None:
        if key is None:
            return None
        if not _KEY.fullmatch(key):
            raise InvalidRequest(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                code="INVALID_IDEMPOTENCY_KEY",
            )
        asked = json.dumps(
            {"connection": connection.id, "action": name, "input": values}, sort_keys=True
        )
        now = self._clock.now()
        record = IdempotencyRecord(
            tenant_id=principal.tenant_id,
            key=hashlib.sha256(key.encode()).hexdigest(),
            request_hash=hashlib.sha256(asked.encode()).hexdigest(),
            owner=self._ids.new("run"),
            created_at=now,
            expires_at=now + PENDING_TTL,
        )
        held = self._keys().claim_idempotency_key(record, now=now)
        if held is None:
            return record
        if held.request_hash != record.request_hash:
            raise InvalidRequest(
                "this Idempotency-Key was used for another request",
                code="IDEMPOTENCY_KEY_REUSED",
                http_status=422,
            )
        if held.state != "done" or held.answer is None:
            raise Conflict(
                "a request with this Idempotency-Key is still running; retry shortly",
                code="IDEMPOTENCY_IN_PROGRESS",
                retryable=True,
            )
        if "error" in held.answer:
            raise _replayed_error(held.answer["error"])
        return ActionResult(dict(held.answer.get("output") or {}), replayed=True)

    def _execute(
        self,
        principal: Principal,
        connection: Connection,
        action: ActionDefinition,
        values: dict[str, Any],
        idempotency_key: str | None,
        calls: list[ProviderCall],
    ) -> dict[str, Any]:
        """The action's output; ``calls`` gets the run's :class:`ProviderCall` as soon as it
        exists (what the provider answered tells a failure's caller whether it acted)."""
        # The run's one audit entry (action.run) records this use of the credentials.
        sender = self._calls().sender(
            principal, connection.id, purpose="action", connection=connection, audit_read=False
        )
        auth_kind = sender.provider.auth_mode
        call = ProviderCall(
            send=sender,
            base_url=sender.base_url,
            config=connection.config,
            auth_kind=auth_kind,
            idempotency_key=idempotency_key,
            ids=lambda: self._ids.new("req"),
        )
        calls.append(call)
        if action.http is not None:
            request = render_request(action.http, values, connection.config)
            headers = dict(request.headers)
            if action.http.idempotency_header and idempotency_key:
                headers[action.http.idempotency_header] = idempotency_key
            answer = call.json(
                request.method,
                request.path,
                params=request.params or None,
                json=request.json,
                content=request.content,
                headers=headers or None,
            )
            output = action.http.empty_result if answer is None else dig(answer, action.http.result)
            if output is MISSING:
                output = None
        else:
            function = self._functions().get(action.function or "")
            if function is None:
                raise TetherError(f"action function {action.function!r} is not registered")
            output = function(values, call)
        checked = _check_output(action, output, auth_kind)
        redacted: dict[str, Any] = sender.redact(checked)
        return redacted

    def _failed(
        self,
        principal: Principal,
        connection: Connection,
        name: str,
        values: Mapping[str, Any],
        claim: IdempotencyRecord | None,
        error: TetherError,
        *,
        acted: bool,
    ) -> None:
        """End a failed run and write its audit entry (even when ending the key fails).

        Its idempotency key is freed, so the caller's retry runs again, unless the provider
        has ``acted`` (answered a request of the run that is not a read with a 2xx, and does
        not itself know the key): then the failure is the key's answer for 24 h, replayed to
        a retry instead of acting twice, as a run that succeeded is; a new key runs the
        action again."""
        try:
            if claim is not None and acted:
                self._keys().complete_idempotency_key(
                    principal.tenant_id,
                    claim.key,
                    owner=claim.owner,
                    answer={"error": _kept_error(error)},
                    expires_at=self._clock.now() + IDEMPOTENCY_TTL,
                )
            elif claim is not None:
                self._keys().release_idempotency_key(
                    principal.tenant_id, claim.key, owner=claim.owner
                )
        finally:
            self._record(
                principal,
                connection,
                name,
                values,
                ok=False,
                code=error.code,
                provider_status=error.details.get("provider_status"),
            )

    def _record(
        self,
        principal: Principal,
        connection: Connection,
        name: str,
        values: Mapping[str, Any],
        *,
        ok: bool,
        replayed: bool = False,
        code: str | None = None,
        provider_status: int | None = None,
    ) -> None:
        detail: dict[str, Any] = {
            "name": name,
            "ok": ok,
            "input_fields": sorted(str(k) for k in values)[:50],
        }
        if replayed:
            detail["replayed"] = True
        if code is not None:
            detail["code"] = code
        if provider_status is not None:
            detail["provider_status"] = provider_status
        self._audit.append_audit(
            audit_entry(self._ids, self._clock, principal, connection.id, ACTION_RUN, **detail)
        )


def _provider_acted(action: ActionDefinition, calls: list[ProviderCall]) -> bool:
    """Whether the provider acted on the run (answered a request of an unsafe method with a
    2xx: a read is safe to run again), without deduplicating by the run's key itself: an
    action that sends the key in its idempotency header (Stripe's) is answered by the
    provider's own replay when retried."""
    sent_key = action.http is not None and action.http.idempotency_header is not None
    return not sent_key and any(call.acted for call in calls)


def _kept_error(error: TetherError) -> dict[str, Any]:
    """What a failed run's key keeps of its error: the answer the caller got (code, message,
    status, details: never a provider's body or a credential)."""
    return {
        "code": error.code,
        "message": error.message,
        "http_status": error.http_status,
        "details": dict(error.details),
    }


def _replayed_error(kept: Mapping[str, Any]) -> TetherError:
    """The kept failure, answered again (not retryable: the same key answers it again)."""
    details = dict(kept.get("details") or {})
    details["replayed"] = True
    return TetherError(
        str(kept.get("message") or "the action failed"),
        code=str(kept.get("code") or INTERNAL),
        http_status=int(kept.get("http_status") or 500),
        retryable=False,
        details=details,
    )
