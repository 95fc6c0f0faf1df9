"""Catalog facts of the providers neither open registry knows, confirmed against the vendor's
own documentation (or its own repository): provider -> field -> (value as confirmed, source).

Fields are read from the entry by :func:`tests.support.vendor_readings.read`. Only facts a
vendor page stated are recorded: an entry or a field missing here was not confirmed (the
providers' own sources stay in the YAML comments). A later edit of the catalog that
contradicts a recorded fact fails ``tests/unit/test_vendor_confirmations.py``: change the
record only with a vendor source that says otherwise.
"""

from __future__ import annotations

__all__ = ["CONFIRMED"]

Fact = tuple[str, str]

# The vendors' own SDKs, read at the versions tests/vendor_sdks pins.
SDK_CRONOFY = "https://www.npmjs.com/package/cronofy"
SDK_FILES_COM = "https://www.npmjs.com/package/files.com"
SDK_GOCARDLESS = "https://www.npmjs.com/package/gocardless-nodejs"
SDK_POSTMARK = "https://www.npmjs.com/package/postmark"
SDK_RECURLY = "https://www.npmjs.com/package/recurly"
SDK_XENDIT = "https://www.npmjs.com/package/xendit-node"

BREATHE = "https://developer.breathehr.com/documentation/request_and_response"
CAPSULE = "https://developer.capsulecrm.com/v2/overview/authentication"
CLOUDINARY = "https://cloudinary.com/documentation/admin_api"
CODAT = "https://github.com/codatio/oas/blob/main/json/Codat-Common.json"
CRONOFY_AUTHORIZE = "https://docs.cronofy.com/developers/api/authorization/request-authorization"
CRONOFY_TOKEN = "https://docs.cronofy.com/developers/api/authorization/request-token"
CRONOFY_DATA_CENTERS = "https://docs.cronofy.com/developers/api/scheduling/available-periods/upsert"
# The vendor's Ruby SDK: lib/cronofy.rb names https://app-<dc>.cronofy.com (authorization)
# and https://api-<dc>.cronofy.com beside the US hosts.
SDK_CRONOFY_RUBY = "https://github.com/cronofy/cronofy-ruby"
EPOS_NOW = "https://developer.eposnowhq.com/Docs/Authentication"
FASTMAIL = "https://www.fastmail.com/developer/integrating-with-fastmail/"
FLUTTERWAVE = "https://developer.flutterwave.com/reference/endpoints/transactions"
GOCARDLESS = "https://developer.gocardless.com/getting-started/go-live-checklist/custom-pages/"
KIT = "https://developers.kit.com/api-reference/accounts/get-current-account"
LEMON_SQUEEZY = "https://docs.lemonsqueezy.com/api/users/retrieve-user"
MAILERLITE = "https://developers.mailerlite.com/docs/index.html"
MERCADO_PAGO = (
    "https://www.mercadopago.com.mx/developers/en/reference/test_user/_test_user_id_password/put"
)
OMNISEND = "https://api-docs.omnisend.com/docs/migrate-from-v5-to-v2026-03-15"
PAYSTACK = "https://paystack.com/docs/api/pagination/"
PCLOUD_AUTHORIZE = "https://docs.pcloud.com/methods/oauth_2.0/authorize.html"
PRINTIFY = "https://developers.printify.com/postman/printify_postman_collection.json"
PRESTASHOP = "https://devdocs.prestashop-project.org/8/webservice/tutorials/testing-access/"
REAMAZE = "https://www.reamaze.com/api/get_conversations"
REMOTE = "https://developer.remote.com/docs/authorization-for-customers"
SALLA = "https://docs.salla.dev/doc-421118"
SAVVYCAL = "https://savvycal.com/docs/api/authentication/"
SENDCLOUD = "https://sendcloud.dev/api/v2/users/retrieve-your-user-data"
SEVEN_SHIFTS = (
    "https://kb.7shifts.com/hc/en-us/articles/8150346086163-How-to-generate-an-Access-Token"
)
SPARKPOST = "https://developers.sparkpost.com/api/"
SUMUP = "https://developer.sumup.com/docs/online-payments/introduction/authorization/"
STATUSPAGE = "https://developer.statuspage.io/"
TRENGO = "https://developers.trengo.com/docs/rate-limiting"
XENDIT = "https://docs.xendit.co/apidocs/quick-setup"
XENDIT_BALANCE = "https://docs.xendit.co/apidocs/get-balance"
ZETTLE = "https://github.com/iZettle/api-documentation/blob/master/authorization.md"

CONFIRMED: dict[str, dict[str, Fact]] = {
    "bexio": {
        "api_base_url": ("https://api.bexio.com", "https://docs.bexio.com/"),
        "credential": ("header Authorization: Bearer {access_token}", "https://docs.bexio.com/"),
    },
    "breathe": {
        "api_base_url": ("https://api.breathehr.com/v1", BREATHE),
        "credential": ("header X-API-KEY: {api_key}", BREATHE),
    },
    "capsule": {
        "api_base_url": ("https://api.capsulecrm.com/api/v2", CAPSULE),
        "credential": ("header Authorization: Bearer {access_token}", CAPSULE),
    },
    "cloudinary": {
        "api_base_url": ("https://api.cloudinary.com/v1_1/{cloud_name}", CLOUDINARY),
        "credential": ("basic {api_key}:{api_secret}", CLOUDINARY),
        "test": ("GET /resources/image?max_results=3", CLOUDINARY),
    },
    "aftership": {
        # The version the vendor's own SDK speaks; 2024-04 was served until 2025-10-08.
        "api_base_url": (
            "https://api.aftership.com/tracking/2026-07",
            "https://www.npmjs.com/package/@aftership/tracking-sdk",
        ),
        "credential": (
            "header as-api-key: {api_key}",
            "https://www.aftership.com/docs/tracking/quickstart/api-quick-start",
        ),
    },
    "codat": {
        "api_base_url": ("https://api.codat.io", CODAT),
        "credential": (
            "header Authorization: Basic {encoded_api_key}",
            "https://github.com/codatio/client-sdk-python",
        ),
        "test": ("GET /companies?page=1&pageSize=3", CODAT),
    },
    "cronofy": {
        "authorization_url": ("https://app.cronofy.com/oauth/authorize", CRONOFY_AUTHORIZE),
        "scope_separator": ("' '", CRONOFY_AUTHORIZE),
        "token_url": ("https://api.cronofy.com/oauth/token", CRONOFY_TOKEN),
        "token_auth_method": ("client_secret_post", CRONOFY_TOKEN),
        "token_request_format": ("json", CRONOFY_TOKEN),
        "api_base_url": ("https://api.cronofy.com/v1", SDK_CRONOFY),
        "test": ("GET /calendars", SDK_CRONOFY),
    },
    "cronofy_au": {
        "authorization_url": ("https://app-au.cronofy.com/oauth/authorize", SDK_CRONOFY_RUBY),
        "api_base_url": ("https://api-au.cronofy.com/v1", CRONOFY_DATA_CENTERS),
    },
    "cronofy_ca": {
        "authorization_url": ("https://app-ca.cronofy.com/oauth/authorize", SDK_CRONOFY_RUBY),
        "api_base_url": ("https://api-ca.cronofy.com/v1", CRONOFY_DATA_CENTERS),
    },
    "cronofy_de": {
        "authorization_url": ("https://app-de.cronofy.com/oauth/authorize", SDK_CRONOFY_RUBY),
        "api_base_url": ("https://api-de.cronofy.com/v1", CRONOFY_DATA_CENTERS),
    },
    "cronofy_sg": {
        "authorization_url": ("https://app-sg.cronofy.com/oauth/authorize", SDK_CRONOFY_RUBY),
        "api_base_url": ("https://api-sg.cronofy.com/v1", CRONOFY_DATA_CENTERS),
    },
    "cronofy_uk": {
        "authorization_url": ("https://app-uk.cronofy.com/oauth/authorize", SDK_CRONOFY_RUBY),
        "api_base_url": ("https://api-uk.cronofy.com/v1", CRONOFY_DATA_CENTERS),
    },
    "epos_now": {
        "credential": ("basic {api_key}:{api_secret}", EPOS_NOW),
    },
    "fastmail": {
        "api_base_url": ("https://api.fastmail.com/jmap", FASTMAIL),
        "credential": ("header Authorization: Bearer {api_token}", FASTMAIL),
        "test": ("GET /session", FASTMAIL),
    },
    "files_com": {
        "api_base_url": ("https://app.files.com/api/rest/v1", SDK_FILES_COM),
        "credential": ("header X-FilesAPI-Key: {api_key}", SDK_FILES_COM),
    },
    "flutterwave": {
        "api_base_url": ("https://api.flutterwave.com/v3", FLUTTERWAVE),
        "credential": ("header Authorization: Bearer {secret_key}", FLUTTERWAVE),
    },
    "gocardless": {
        "hosts:api_host": ("api.gocardless.com api-sandbox.gocardless.com", GOCARDLESS),
        "header:GoCardless-Version": ("2015-07-06", SDK_GOCARDLESS),
    },
    "kit": {
        "api_base_url": ("https://api.kit.com/v4", KIT),
        "credential": ("header X-Kit-Api-Key: {api_key}", KIT),
        "test": ("GET /account", KIT),
    },
    "lemon_squeezy": {
        "api_base_url": ("https://api.lemonsqueezy.com/v1", LEMON_SQUEEZY),
        "credential": ("header Authorization: Bearer {api_key}", LEMON_SQUEEZY),
        "header:Accept": ("application/vnd.api+json", LEMON_SQUEEZY),
        "test": ("GET /users/me", LEMON_SQUEEZY),
        # X-Signature: the HMAC hex digest of the payload (the scheme's default SHA-256, hex).
        "webhook": (
            "hmac header=X-Signature",
            "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
        ),
    },
    "lightspeed_r_series": {
        "authorization_url": (
            "https://cloud.lightspeedapp.com/auth/oauth/authorize",
            "https://developers.lightspeedhq.com/retail/authentication/authentication-overview/",
        ),
    },
    "mailerlite": {
        "api_base_url": ("https://connect.mailerlite.com/api", MAILERLITE),
        "credential": ("header Authorization: Bearer {api_key}", MAILERLITE),
    },
    "mercado_pago": {
        "api_base_url": ("https://api.mercadopago.com", MERCADO_PAGO),
        "credential": ("header Authorization: Bearer {access_token}", MERCADO_PAGO),
        # Access token types: APP_USR (an application for a user) and TEST (sandbox).
        "key_pattern": ("^(APP_USR|TEST)-[A-Za-z0-9-]+$", MERCADO_PAGO),
    },
    "omnisend": {
        "api_base_url": ("https://api.omnisend.com/v5", OMNISEND),
        "credential": ("header X-API-KEY: {api_key}", OMNISEND),
        "test": ("GET /contacts?limit=3", OMNISEND),
    },
    "paystack": {
        "api_base_url": ("https://api.paystack.co", PAYSTACK),
        "credential": ("header Authorization: Bearer {secret_key}", PAYSTACK),
        "test": ("GET /transaction?perPage=3", PAYSTACK),
    },
    "pcloud": {
        "authorization_url": ("https://my.pcloud.com/oauth2/authorize", PCLOUD_AUTHORIZE),
        # The token endpoint is on the API host the authorize redirect names (hostname).
        "token_url": (
            "https://{api_host}/oauth2_token",
            "https://docs.pcloud.com/methods/oauth_2.0/oauth2_token.html",
        ),
        "test": ("GET /userinfo", "https://docs.pcloud.com/methods/general/userinfo.html"),
    },
    "postmark": {
        "api_base_url": ("https://api.postmarkapp.com", SDK_POSTMARK),
        "test": ("GET /server", SDK_POSTMARK),
        "credential": (
            "header X-Postmark-Server-Token: {server_token}",
            "https://postmarkapp.com/developer/user-guide/managing-your-account",
        ),
    },
    "prestashop": {
        "api_base_url": ("{shop_url}/api", PRESTASHOP),
        "credential": ("basic {webservice_key}:", PRESTASHOP),
    },
    "printify": {
        "api_base_url": ("https://api.printify.com/v1", PRINTIFY),
        "credential": ("header Authorization: Bearer {personal_access_token}", PRINTIFY),
        "test": ("GET /shops.json", PRINTIFY),
    },
    "reamaze": {
        "api_base_url": ("https://{brand}.reamaze.io/api/v1", REAMAZE),
        "credential": ("basic {email}:{api_token}", REAMAZE),
        "header:Accept": ("application/json", REAMAZE),
        "test": ("GET /conversations", REAMAZE),
    },
    "recurly": {
        "hosts:api_host": ("v3.recurly.com v3.eu.recurly.com", SDK_RECURLY),
        "credential": ("basic {api_key}:", SDK_RECURLY),
    },
    "remote": {
        "api_base_url": ("https://gateway.remote.com/v1", REMOTE),
        "credential": ("header Authorization: Bearer {api_token}", REMOTE),
    },
    "salla": {
        "authorization_url": ("https://accounts.salla.sa/oauth2/auth", SALLA),
        "token_url": ("https://accounts.salla.sa/oauth2/token", SALLA),
        "credential": ("header Authorization: Bearer {access_token}", SALLA),
        "test": ("GET /store/info", "https://docs.salla.dev/doc-421412/doc-422988/api-5394261"),
    },
    "savvycal": {
        "api_base_url": ("https://api.savvycal.com/v1", SAVVYCAL),
        "credential": ("header Authorization: Bearer {access_token}", SAVVYCAL),
        "test": ("GET /me", SAVVYCAL),
    },
    "sendcloud": {
        "api_base_url": ("https://panel.sendcloud.sc/api/v2", SENDCLOUD),
        "credential": (
            "basic {public_key}:{secret_key}",
            "https://sendcloud.dev/docs/authentication",
        ),
        "test": ("GET /user", SENDCLOUD),
    },
    "sevdesk": {
        "credential": (
            "header Authorization: {api_key}",
            "https://landing.sevdesk.de/service-support-center-technik-api-faq",
        ),
    },
    "seven_shifts": {
        "api_base_url": ("https://api.7shifts.com/v2", SEVEN_SHIFTS),
        "credential": ("header Authorization: Bearer {access_token}", SEVEN_SHIFTS),
        "test": ("GET /whoami", SEVEN_SHIFTS),
    },
    "sparkpost": {
        "api_base_url": ("https://{api_host}/api/v1", SPARKPOST),
        "hosts:api_host": ("api.sparkpost.com api.eu.sparkpost.com", SPARKPOST),
        "credential": ("header Authorization: {api_key}", SPARKPOST),
    },
    "statuspage": {
        "api_base_url": ("https://api.statuspage.io/v1", STATUSPAGE),
        "credential": ("header Authorization: OAuth {api_key}", STATUSPAGE),
    },
    "sumup": {
        "api_base_url": ("https://api.sumup.com", SUMUP),
        "credential": ("header Authorization: Bearer {api_key}", SUMUP),
        "test": ("GET /v0.1/me", SUMUP),
    },
    "trengo": {
        "api_base_url": ("https://app.trengo.com/api/v2", TRENGO),
        "credential": ("header Authorization: Bearer {api_token}", TRENGO),
    },
    "visma_eaccounting": {
        "api_base_url": (
            "https://eaccountingapi.vismaonline.com/v2",
            "https://community.visma.com/t5/Knowledge-base-in-Visma/Authentication-and-endpoint-request/ta-p/241050",
        ),
    },
    "xendit": {
        "api_base_url": ("https://api.xendit.co", SDK_XENDIT),
        "credential": ("basic {secret_key}:", XENDIT),
        "test": ("GET /balance", XENDIT_BALANCE),
    },
    "zettle": {
        "api_base_url": (
            "https://purchase.izettle.com",
            "https://github.com/iZettle/api-documentation/blob/master/purchase.adoc",
        ),
        "authorization_url": ("https://oauth.zettle.com/authorize", ZETTLE),
        "token_url": ("https://oauth.zettle.com/token", ZETTLE),
        "token_auth_method": ("client_secret_post", ZETTLE),
        "credential": ("header Authorization: Bearer {access_token}", ZETTLE),
        "test": ("GET https://oauth.zettle.com/users/self", ZETTLE),
    },
}
