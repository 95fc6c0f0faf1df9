"""OAuth2: pure protocol helpers (PKCE, authorization URLs, token responses, the token
endpoint client, the shared shapes in :mod:`tether.oauth.model`) and, on top of them, the
capability: the authorization flow (:mod:`~tether.oauth.flow`), clients, token storage and
the token lifecycle: refresh (:mod:`~tether.oauth.refresh`, with its lease, commit, failures,
policy and schedule) and revocation (:mod:`~tether.oauth.revocation`)."""
