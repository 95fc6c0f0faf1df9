"""The auth modes whose access token Tether issues from a connection's stored credentials
(:mod:`tether.catalog.token_grants` describes them). A module of its own so that code
deciding by a connection's ``auth_mode`` does not build the catalog's models to know it."""

from __future__ import annotations

__all__ = ["ISSUED_TOKEN_MODES"]

ISSUED_TOKEN_MODES = frozenset({"oauth2_client_credentials", "oauth2_jwt_bearer", "two_step"})
