"""Catalog facts the two open registries do not hold, pinned against the vendors' own SDKs.

Grant and Nango know neither of these providers (tests/unit/test_catalog_registries.py), so
their base URLs, auth headers and test paths are read in the vendor's SDK instead: npm
packages pinned by tests/vendor_sdks/package-lock.json, installed by `make install` and read
in node_modules, never copied into Tether or shipped. Each fact takes its value from the
catalog and looks for it, written as the SDK writes it, in one file of the package: a change
to the catalog that the vendor's SDK does not share fails here.

Key shapes are pinned the same way, from the character sets the vendors document (Xendit's
secret keys carry Base64 characters; PrestaShop's validator accepts letters of either case,
digits and ``@#?-_``): a key of such a shape passes the entry's credentials schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tether.catalog import Catalog, Provider
from tether.catalog.loader import parse_packaged

MODULES = Path(__file__).resolve().parents[1] / "vendor_sdks" / "node_modules"


def _origin(provider: Provider) -> str:
    parts = urlsplit(provider.api_base_url or "")
    return f"{parts.scheme}://{parts.netloc}"


def _host(provider: Provider) -> str:
    return urlsplit(provider.api_base_url or "").netloc


def _base_path(provider: Provider) -> str:
    return urlsplit(provider.api_base_url or "").path


def _test_path(provider: Provider) -> str:
    assert provider.test is not None
    return urlsplit(provider.test.path).path


def _full_test_path(provider: Provider) -> str:
    return _base_path(provider) + _test_path(provider)


def _auth(name: str) -> Callable[[Provider], str]:
    return lambda provider: str(getattr(provider.auth, name))


def _header(name: str) -> Callable[[Provider], str]:
    return lambda provider: provider.headers[name]


def _enum(config: str, index: int) -> Callable[[Provider], str]:
    def value(provider: Provider) -> str:
        return str(provider.config_schema["properties"][config]["enum"][index])

    return value


def _scheme(provider: Provider) -> str:
    """How the credential is sent, in the SDK's words: ``Bearer``, or a Basic user name with
    no password (``:`` after it) or with one."""
    auth = provider.auth
    if auth.mode == "bearer":
        return "Bearer"
    assert auth.mode == "basic"
    return "no password" if getattr(auth, "password_field") is None else "password"  # noqa: B009


@dataclass(frozen=True, slots=True)
class SdkFact:
    """``ours(provider)`` appears in ``package``'s ``path`` as ``pattern`` writes it: the
    pattern is a regular expression whose ``{}`` stands for the escaped value."""

    provider: str
    what: str
    ours: Callable[[Provider], str]
    package: str
    path: str
    pattern: str
    # For a fact the SDK states as code rather than as a value (a Basic password left empty):
    # the value ours must have for the pattern to count.
    expected: str | None = None

    def found(self, provider: Provider) -> bool:
        value = self.ours(provider)
        if self.expected is not None and value != self.expected:
            return False
        text = (MODULES / self.package / self.path).read_text("utf-8")
        return re.search(self.pattern.replace("{}", re.escape(value)), text) is not None

    def __str__(self) -> str:
        return f"{self.provider} {self.what} in {self.package}/{self.path}"


FACTS = [
    SdkFact("postmark", "API host", _host, "postmark",
            "dist/client/models/client/HttpClient.js", r'requestHost: "{}"'),
    SdkFact("postmark", "auth header", _auth("name"), "postmark",
            "dist/client/models/client/ClientOptions.js", r'\["SERVER_TOKEN"\] = "{}"'),
    SdkFact("postmark", "test path", _test_path, "postmark",
            "dist/client/ServerClient.js", r'HttpMethod\.GET, "{}"'),
    SdkFact("lemon_squeezy", "API origin", _origin, "@lemonsqueezy/lemonsqueezy.js",
            "dist/index.js", r'="{}"'),
    SdkFact("lemon_squeezy", "test path", _full_test_path, "@lemonsqueezy/lemonsqueezy.js",
            "dist/index.js", r'path:"{}"'),
    SdkFact("lemon_squeezy", "Accept header", _header("Accept"),
            "@lemonsqueezy/lemonsqueezy.js", "dist/index.js", r'"Accept","{}"'),
    SdkFact("gocardless", "API version header", _header("GoCardless-Version"),
            "gocardless-nodejs", "cjs/constants.js", r"API_VERSION = '{}'"),
    SdkFact("gocardless", "live host", _enum("api_host", 0), "gocardless-nodejs",
            "cjs/api/api.js", r"_baseUrl = 'https://{}'"),
    SdkFact("gocardless", "sandbox host", _enum("api_host", 1), "gocardless-nodejs",
            "cjs/api/api.js", r"_baseUrl = 'https://{}'"),
    SdkFact("mailerlite", "API origin", _origin, "@mailerlite/mailerlite-nodejs",
            "dist/index.js", r'base_path\|\|"{}"'),
    SdkFact("mailerlite", "test path", _full_test_path, "@mailerlite/mailerlite-nodejs",
            "dist/index.js", r'"{}",\{method:"GET"'),
    SdkFact("cronofy", "token URL", _auth("token_url"), "cronofy",
            "test/index.spec.js", r"'{}'"),
    SdkFact("cronofy", "revocation path", lambda p: urlsplit(_auth("revocation_url")(p)).path,
            "cronofy", "src/index.js", r"_httpPost\('{}'"),
    SdkFact("cronofy", "JSON token request",
            lambda p: "application/" + _auth("token_request_format")(p), "cronofy",
            "src/index.js", r"'Content-Type': '{}'"),
    SdkFact("cronofy", "test path", _full_test_path, "cronofy",
            "src/index.js", r"_httpGet\('{}'"),
    SdkFact("recurly", "US host", _enum("api_host", 0), "recurly",
            "lib/recurly/BaseClient.js", r"us: '{}'"),
    SdkFact("recurly", "EU host", _enum("api_host", 1), "recurly",
            "lib/recurly/BaseClient.js", r"eu: '{}'"),
    SdkFact("recurly", "API version in Accept",
            lambda p: re.findall(r"v\d{4}-\d{2}-\d{2}", p.headers["Accept"])[0], "recurly",
            "lib/recurly/Client.js", r"return '{}'"),
    SdkFact("recurly", "key as Basic user name", _scheme, "recurly",
            "lib/recurly/BaseClient.js", r"_getApiKey\(\) \+ ':'", "no password"),
    SdkFact("xendit", "API origin", _origin, "xendit-node",
            "balance_and_transaction/apis/Balance.js", r"xenditURL \|\| '{}'"),
    SdkFact("xendit", "test path", _test_path, "xendit-node",
            "balance_and_transaction/apis/Balance.js", r"path: `{}`"),
    SdkFact("xendit", "key as Basic user name", _scheme, "xendit-node",
            "balance_and_transaction/apis/Balance.js", r'btoa\(this\.secretKey \+ ":"\)',
            "no password"),
    SdkFact("mercado_pago", "API origin", _origin, "mercadopago",
            "dist/utils/config/index.js", r"BASE_URL = '{}'"),
    SdkFact("mercado_pago", "test path", _test_path, "mercadopago",
            "dist/clients/user/get/index.js", r"fetch\('{}'"),
    SdkFact("mercado_pago", "bearer token", _scheme, "mercadopago",
            "dist/clients/user/get/index.js", r"`{} \$\{config\.accessToken\}`"),
    SdkFact("sumup", "API origin", _origin, "@sumup/sdk", "dist/index.cjs", r'host = "{}"'),
    SdkFact("sumup", "bearer key", _scheme, "@sumup/sdk", "dist/index.cjs",
            r'"Authorization", `{} \$\{apiKey\}`'),
    SdkFact("files_com", "API origin", _origin, "files.com", "lib/Files.js",
            r"baseUrl = '{}'"),
    SdkFact("files_com", "API path", _base_path, "files.com", "lib/Files.js",
            r"endpointPrefix = '{}'"),
    SdkFact("files_com", "auth header", _auth("name"), "files.com", "lib/Api.js",
            r"headers\['{}'\] = apiKey"),
    SdkFact("cloudinary", "API origin", _origin, "cloudinary", "lib/utils/consts.js",
            r'UPLOAD_PREFIX = "{}"'),
    SdkFact("cloudinary", "API version", lambda p: _base_path(p).split("/")[1], "cloudinary",
            "lib/utils/index.js", r"base_api_url\('{}'\)"),
    SdkFact("cloudinary", "key and secret as Basic", _scheme, "cloudinary",
            "lib/api_client/execute_request.js", r'auth = key \+ ":" \+ secret', "password"),
    SdkFact("aftership", "API origin", _origin, "@aftership/tracking-sdk",
            "dist/lib/request.js", r'DEFAULT_DOMAIN = "{}"'),
    SdkFact("aftership", "auth header", _auth("name"), "@aftership/tracking-sdk",
            "dist/lib/request.js", r'"{}": this\.options\.api_key'),
    SdkFact("aftership", "API version", lambda p: _base_path(p).split("/")[2],
            "@aftership/tracking-sdk", "dist/api/Tracking.js", r"`/tracking/{}/trackings`"),
    SdkFact("aftership", "test resource", _test_path, "@aftership/tracking-sdk",
            "dist/api/Tracking.js", r"/tracking/\d{4}-\d{2}{}`"),
]  # fmt: skip


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_packaged(check_json_schema=False)


@pytest.mark.parametrize("fact", FACTS, ids=str)
def test_the_catalog_agrees_with_the_vendors_sdk(catalog: Catalog, fact: SdkFact) -> None:
    assert fact.found(catalog.get(fact.provider)), str(fact)


def test_the_sdks_read_are_the_pinned_versions() -> None:
    lock = json.loads((MODULES.parent / "package-lock.json").read_text("utf-8"))
    for package in sorted({fact.package for fact in FACTS}):
        installed = json.loads((MODULES / package / "package.json").read_text("utf-8"))
        assert installed["version"] == lock["packages"][f"node_modules/{package}"]["version"]


def test_a_wrong_fact_is_caught(catalog: Catalog) -> None:
    postmark = catalog.get("postmark")
    wrong_auth = postmark.auth.model_copy(update={"name": "X-Postmark-Token"})
    wrong = postmark.model_copy(
        update={"auth": wrong_auth, "api_base_url": "https://postmark.example"}
    )
    found = {fact.what: fact.found(wrong) for fact in FACTS if fact.provider == "postmark"}
    assert found == {"API host": False, "auth header": False, "test path": True}
    xendit = catalog.get("xendit")
    with_password = xendit.auth.model_copy(update={"password_field": "secret"})
    basic = next(f for f in FACTS if f.provider == "xendit" and f.ours is _scheme)
    assert not basic.found(xendit.model_copy(update={"auth": with_password}))


def _accepts(provider: Provider, field: str, value: str) -> bool:
    pattern = provider.credentials_schema["properties"][field]["pattern"]
    return re.search(pattern, value) is not None


@pytest.mark.parametrize(
    ("key", "field", "value", "accepted"),
    [
        # Xendit: the environment's prefix, then Base64 characters.
        ("xendit", "secret_key", "xnd_development_" + "Ab9+cD/e" * 8 + "==", True),
        ("xendit", "secret_key", "xnd_production_" + "0Z" * 30, True),
        ("xendit", "secret_key", "xnd_public_development_" + "Ab9" * 10, False),
        # PrestaShop: 32 characters, either case, digits and @ # ? - _.
        ("prestashop", "webservice_key", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", True),
        ("prestashop", "webservice_key", "abc@def#ghi?jkl-mno_pqr012345678", True),
        ("prestashop", "webservice_key", "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234", False),
        ("prestashop", "webservice_key", "ABCDEFGHIJKLMNOPQRSTUVWXYZ01234!", False),
    ],
)
def test_the_key_shapes_vendors_document_pass_the_schema(
    catalog: Catalog, key: str, field: str, value: str, accepted: bool
) -> None:
    assert _accepts(catalog.get(key), field, value) is accepted
