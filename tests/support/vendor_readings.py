"""How a catalog entry states each fact that :mod:`tests.support.vendor_confirmations`
records, as one string a vendor's documentation can be read against.

``credential`` spells where the secret goes, with the credentials field in braces:
``header X-API-KEY: {api_key}``, ``header Authorization: Bearer {token}``, ``query key={k}``,
``basic {username}:{password}`` (``basic {key}:`` for a key as the user name and an empty
password). ``test`` is the connection test's method and path as the entry writes it;
``webhook`` the signature scheme and its options; ``header:<Name>`` a static header's value;
``hosts:<property>`` the hosts a config property may name, in order.
"""

from __future__ import annotations

from collections.abc import Callable

from tether.catalog import Provider

__all__ = ["read"]


def _credential(provider: Provider) -> str:
    auth = provider.auth
    if auth.mode == "api_key":
        where = f"{auth.name}: " if auth.location == "header" else f"{auth.name}="
        return f"{auth.location} {where}{auth.prefix}{{{auth.credential_field}}}"
    if auth.mode == "bearer":
        return f"header Authorization: Bearer {{{auth.credential_field}}}"
    if auth.mode == "basic":
        password = "" if auth.password_field is None else f"{{{auth.password_field}}}"
        return f"basic {{{auth.username_field}}}:{password}"
    if auth.mode == "oauth2":
        return f"header {auth.token_header}: {auth.token_prefix}{{access_token}}"
    raise AssertionError(f"{provider.key}: no reading of a {auth.mode} credential")


def _auth_field(name: str) -> Callable[[Provider], str]:
    def value(provider: Provider) -> str:
        found = getattr(provider.auth, name)
        return repr(found) if name == "scope_separator" else str(found)

    return value


def _test(provider: Provider) -> str:
    assert provider.test is not None, provider.key
    return f"{provider.test.method} {provider.test.path}"


def _webhook(provider: Provider) -> str:
    assert provider.webhook is not None, provider.key
    options = " ".join(f"{k}={v}" for k, v in sorted(provider.webhook.options.items()))
    return f"{provider.webhook.scheme} {options}".strip()


def _key_pattern(provider: Provider) -> str:
    patterns = [
        spec["pattern"]
        for spec in provider.credentials_schema.get("properties", {}).values()
        if spec.get("writeOnly") and "pattern" in spec
    ]
    assert len(patterns) == 1, provider.key
    return str(patterns[0])


READERS: dict[str, Callable[[Provider], str]] = {
    "api_base_url": lambda provider: str(provider.api_base_url),
    "auth_mode": lambda provider: provider.auth_mode,
    "credential": _credential,
    "authorization_url": _auth_field("authorization_url"),
    "token_url": _auth_field("token_url"),
    "token_auth_method": _auth_field("token_auth_method"),
    "token_request_format": _auth_field("token_request_format"),
    "scope_separator": _auth_field("scope_separator"),
    "test": _test,
    "key_pattern": _key_pattern,
    "webhook": _webhook,
}


def read(provider: Provider, field: str) -> str:
    """The entry's statement of ``field`` (see the module docstring for the names)."""
    if field.startswith("header:"):
        return provider.headers[field.removeprefix("header:")]
    if field.startswith("hosts:"):
        prop = provider.config_schema["properties"][field.removeprefix("hosts:")]
        return " ".join(str(value) for value in prop["enum"])
    return READERS[field](provider)
