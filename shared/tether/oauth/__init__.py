"""OAuth2: pure helpers (PKCE, authorization URLs, token responses), the token endpoint
client, and the shared shapes in :mod:`tether.oauth.model`."""
