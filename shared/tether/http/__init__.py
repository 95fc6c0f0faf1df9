"""Outbound HTTP: one client for every call to a provider or a user-configured URL (SSRF guard,
timeouts, retries, rate limiting, auth, redaction) and the pagination strategies of fetch."""
