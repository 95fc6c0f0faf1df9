"""Typed provider actions: what a connection can do (the catalog's actions filtered by its
granted scopes), running one through the connection's outbound client (input and output
checked against their JSON Schemas, an ``Idempotency-Key`` honoured for 24 h, one audit entry),
and the registered functions of actions a declarative mapping cannot say."""

from tether.actions.runner import ActionResult, ActionRunner, available_actions

__all__ = ["ActionResult", "ActionRunner", "available_actions"]
