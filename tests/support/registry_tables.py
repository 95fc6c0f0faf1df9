"""The tables of the registry comparison (:mod:`tests.support.registry_comparison`).

:data:`ALIASES`: a catalog key's key in a registry where the default (ours, with ``-`` for
``_`` in Nango, without ``_`` in grant) is not it; None where the registry's entry of that
name is another product. Where a registry has several entries for one product, the one with
our kind of credential is named, so the auth modes compare like with like.

:data:`EXCEPTIONS`: each known disagreement, by (provider, registry, field), with its reason.
A disagreement not listed fails the test, and so does a listed one that no longer disagrees.
"""

from __future__ import annotations

__all__ = ["ALIASES", "EXCEPTIONS"]

GOOGLE = {"grant": "google"}
MICROSOFT = {"grant": "microsoft"}

ALIASES: dict[str, dict[str, str | None]] = {
    # Google's and Microsoft's APIs share one OAuth client per suite.
    "google_drive": GOOGLE,
    "gmail": {"grant": "google", "nango": "google-mail"},
    "google_calendar": GOOGLE,
    "google_sheets": {"grant": "google", "nango": "google-sheet"},
    "google_analytics": GOOGLE,
    "google_cloud_storage": GOOGLE,
    "microsoft_outlook": {"grant": "microsoft", "nango": "outlook"},
    "microsoft_onedrive": {"grant": "microsoft", "nango": "one-drive"},
    "sharepoint": {"grant": "microsoft", "nango": "sharepoint-online"},
    "microsoft_graph_app": {"nango": "microsoft-oauth2-cc"},
    # Renamed products, or another name in the registry.
    "quickbooks": {"grant": "intuit"},
    "jira": {"grant": "atlassian"},
    "keap": {"grant": "infusionsoft"},
    "lightspeed_retail": {"grant": "vend"},
    "square": {"nango": "squareup"},
    "wave": {"nango": "wave-accounting"},
    "activecampaign": {"nango": "active-campaign"},
    "loops": {"nango": "loops-so"},
    "humaans": {"nango": "humaans-io"},
    "help_scout": {"nango": "helpscout-mailbox"},
    # The registry's entry for our kind of credential.
    "xero_custom_connection": {"nango": "xero-oauth2-cc"},
    "salesforce_client_credentials": {"nango": "salesforce-cc"},
    "stripe": {"nango": "stripe-api-key"},
    "brevo": {"nango": "brevo-api-key"},
    "smartrecruiters": {"nango": "smartrecruiters-api-key"},
    "wise": {"nango": "wise-api-key"},
    "hibob": {"nango": "hibob-service-user"},
    "cal_com": {"nango": "cal-com-v2"},
    "bamboohr": {"nango": "bamboohr-basic"},
    "greenhouse": {"nango": "greenhouse-harvest"},
    "lever": {"nango": "lever-basic"},
    "brex": {"nango": "brex-api-key"},
    "pennylane": {"nango": "pennylane-company-api"},
    "personio": {"nango": "personio-v2"},
    "affinity": {"nango": "affinity-v2"},
    "gorgias": {"nango": "gorgias-basic"},
    # grant's "amazon" is Login with Amazon, not the Selling Partner API's consent.
    "amazon_selling_partner": {"grant": None},
}


def _older_in_grant(what: str) -> str:
    return f"grant lists {what}; Nango lists ours, as the vendor's current docs do"


def _app_in_nango(ours: str) -> str:
    return (
        f"Nango's entry connects as the vendor's OAuth app; ours takes the account's own "
        f"{ours} (the vendor offers both)"
    )


def _basic_in_vendor_docs(page: str) -> str:
    return (
        f"{page} has the client authenticate at the token endpoint with HTTP Basic; Nango's "
        "entry, naming no method, sends the secret in the form body"
    )


def _zoho_commas(page: str) -> str:
    return (
        f"Zoho joins scopes with commas in the authorization request ({page}); Nango's "
        "entry keeps the default space"
    )


EXCEPTIONS: dict[tuple[str, str, str], str] = {
    # grant against Nango: grant keeps endpoints the vendors have since replaced.
    ("xero", "grant", "authorization_url"): _older_in_grant("Xero's retired OAuth 1.0a"),
    ("xero", "grant", "token_url"): _older_in_grant("Xero's retired OAuth 1.0a"),
    ("xero", "grant", "auth_mode"): _older_in_grant("Xero as OAuth 1.0a"),
    ("freshbooks", "grant", "authorization_url"): _older_in_grant(
        "classic FreshBooks' per-account OAuth 1.0a"
    ),
    ("freshbooks", "grant", "token_url"): _older_in_grant(
        "classic FreshBooks' per-account OAuth 1.0a"
    ),
    ("freshbooks", "grant", "auth_mode"): _older_in_grant("classic FreshBooks as OAuth 1.0a"),
    ("slack", "grant", "authorization_url"): _older_in_grant(
        "the legacy flow of classic Slack apps (oauth/authorize); granular-permission apps "
        "use oauth/v2/authorize"
    ),
    ("slack", "grant", "token_url"): _older_in_grant(
        "the legacy oauth.access; granular-permission apps use oauth.v2.access"
    ),
    ("box", "grant", "authorization_url"): _older_in_grant(
        "the older api.box.com authorize URL; Box documents account.box.com/api/oauth2/authorize"
    ),
    ("gumroad", "grant", "token_url"): _older_in_grant("the token URL on gumroad.com"),
    ("keap", "grant", "authorization_url"): _older_in_grant(
        "Infusionsoft's older signin.infusionsoft.com host"
    ),
    ("constant_contact", "grant", "authorization_url"): _older_in_grant(
        "the retired V2 API's OAuth server (oauth2.constantcontact.com); the V3 API's is "
        "authz.constantcontact.com"
    ),
    ("constant_contact", "grant", "token_url"): _older_in_grant(
        "the retired V2 API's OAuth server"
    ),
    ("lightspeed_retail", "grant", "authorization_url"): _older_in_grant(
        "Vend's vendhq.com, from before Lightspeed renamed it Retail (X-Series) and moved it "
        "to retail.lightspeed.app"
    ),
    ("lightspeed_retail", "grant", "token_url"): _older_in_grant(
        "Vend's per-store vendhq.com token URL, now {domain_prefix}.retail.lightspeed.app"
    ),
    # The same endpoint written otherwise, or a host the tenant's account decides.
    ("sage", "nango", "authorization_url"): (
        "the same endpoint; Sage's guide adds ?filter=apiv3.1 so the consent lists only "
        "businesses of the v3.1 API, which Nango leaves out"
    ),
    ("paypal", "nango", "token_url"): (
        "Nango's paypal entry is Log in with PayPal on api.paypal.com; ours is a REST app's "
        "client credentials on api-m.paypal.com or its sandbox, the hosts PayPal's REST "
        "authentication guide names; both serve /v1/oauth2/token"
    ),
    ("salesforce_client_credentials", "nango", "token_url"): (
        "templated host: the client credentials flow runs on the org's My Domain, which we "
        "template as {my_domain}.my.salesforce.com and Nango as a whole hostname"
    ),
    ("salesforce_client_credentials", "nango", "api_base_url"): (
        "templated host: ours is the org's My Domain with the REST version, Nango's the "
        "instance_url of the token response (the same host for a My Domain org)"
    ),
    ("woocommerce", "nango", "api_base_url"): (
        "templated store address: ours takes the store's whole https URL (a store may live "
        "under a path) and adds /wp-json/wc/v3, Nango a host alone"
    ),
    ("pipedrive", "nango", "api_base_url"): (
        "templated host: ours is the company's own subdomain (API tokens), Nango's the "
        "api_domain an OAuth token response names"
    ),
    ("docusign", "nango", "api_base_url"): (
        "templated host: DocuSign asks clients to call the account's base URI from userinfo "
        "(na4.docusign.net, eu.docusign.net, ...), which ours takes; Nango fixes www.docusign.net"
    ),
    ("tableau", "nango", "api_base_url"): (
        "both take the server from config; ours pins REST API version 3.21, Nango takes the "
        "version from config too"
    ),
    ("adobe_commerce", "nango", "api_base_url"): (
        "templated store: ours takes the store's https URL and the default store view's "
        "/rest/V1, Nango a host and a store code"
    ),
    ("freshsales", "nango", "api_base_url"): (
        "templated host: ours is the Freshworks CRM bundle ({domain}.myfreshworks.com/crm/"
        "sales/api); Nango takes a bundle alias or the older {subdomain}.freshsales.io"
    ),
    ("activecampaign", "nango", "api_base_url"): (
        "templated host: ours is {account}.api-us1.com/api/3, the URL ActiveCampaign's "
        "settings show; Nango takes any hostname"
    ),
    # Another API of the same vendor, or another host of it.
    ("google_analytics", "nango", "api_base_url"): (
        "ours is the GA4 Data API (analyticsdata.googleapis.com); Nango's google-analytics "
        "proxies www.googleapis.com, the older Analytics APIs' host"
    ),
    ("google_cloud_storage", "nango", "api_base_url"): (
        "ours is the JSON API's documented storage.googleapis.com/storage/v1; Nango proxies "
        "www.googleapis.com, which serves the same API under /storage/v1"
    ),
    ("apollo", "nango", "api_base_url"): (
        "ours is api.apollo.io/api/v1, the host of Apollo's API reference; Nango proxies "
        "app.apollo.io/api"
    ),
    ("customer_io", "nango", "api_base_url"): (
        "ours is the App API (api.customer.io/v1 or api-eu); Nango's customer-io is the "
        "Data Pipelines (cdp) API"
    ),
    ("customer_io", "nango", "auth_mode"): (
        "ours is the App API's bearer key; Nango's Data Pipelines entry takes basic auth"
    ),
    ("braintree", "nango", "api_base_url"): (
        "ours is Braintree's GraphQL API (payments.braintree-api.com); Nango's entry is the "
        "OAuth partner gateway api.braintreegateway.com"
    ),
    ("adyen", "nango", "api_base_url"): (
        "ours is the Management API (management-{environment}.adyen.com/v3); Nango templates "
        "any Adyen API as {resource}-{environment}"
    ),
    # The same credential family named otherwise.
    ("stripe", "nango", "auth_mode"): (
        "Stripe takes a secret key as a bearer token or as the basic-auth user name; ours "
        "sends the bearer header, Nango's stripe-api-key basic auth"
    ),
    ("google_service_account", "nango", "auth_mode"): (
        "the same JWT bearer grant (RFC 7523): Nango models it as its TWO_STEP mode"
    ),
    ("paypal", "nango", "auth_mode"): (
        "Nango's paypal is Log in with PayPal (authorization code); ours a REST app's client "
        "credentials, for the merchant's own account"
    ),
    ("ramp", "nango", "auth_mode"): (
        "Nango's ramp is the authorization-code app; ours the client credentials of the "
        "business's own developer app (Ramp offers both)"
    ),
    # Nango's entry is the vendor's OAuth app; ours takes a key or token.
    ("bigcommerce", "nango", "auth_mode"): _app_in_nango("store API account token"),
    ("mollie", "nango", "auth_mode"): _app_in_nango("API key"),
    ("pipedrive", "nango", "auth_mode"): _app_in_nango("API token"),
    ("mailchimp", "nango", "auth_mode"): _app_in_nango("API key (basic auth)"),
    ("intercom", "nango", "auth_mode"): _app_in_nango("access token"),
    ("typeform", "nango", "auth_mode"): _app_in_nango("personal access token"),
    ("clickup", "nango", "auth_mode"): _app_in_nango("personal API token"),
    ("acuity_scheduling", "nango", "auth_mode"): _app_in_nango("user id and API key"),
    ("printful", "nango", "auth_mode"): _app_in_nango("private token"),
    ("close", "nango", "auth_mode"): _app_in_nango("API key (basic auth)"),
    ("deel", "nango", "auth_mode"): _app_in_nango("API token"),
    ("braintree", "nango", "auth_mode"): _app_in_nango("public and private key (basic auth)"),
    ("adyen", "nango", "auth_mode"): _app_in_nango("API key"),
    ("pagerduty", "nango", "auth_mode"): _app_in_nango("REST API key"),
    # How the client authenticates at the token endpoint, and what joins scopes: ours
    # follows the vendor's page (named in the entry's source comments too).
    ("xero", "nango", "token_auth_method"): _basic_in_vendor_docs("Xero's auth-flow guide"),
    ("quickbooks", "nango", "token_auth_method"): _basic_in_vendor_docs("Intuit's OAuth 2.0 guide"),
    ("notion", "nango", "token_auth_method"): _basic_in_vendor_docs("Notion's authorization guide"),
    ("airtable", "nango", "token_auth_method"): _basic_in_vendor_docs(
        "Airtable's OAuth reference (for integrations with a client secret)"
    ),
    ("zoom", "nango", "token_auth_method"): _basic_in_vendor_docs(
        "Zoom's OAuth 2.0 page (developers.zoom.us/docs/rooms/oauth: a basic authorization "
        "header of client id and secret)"
    ),
    ("dropbox", "nango", "token_auth_method"): (
        "Dropbox's OAuth guide accepts the app key and secret as HTTP Basic or as form fields; "
        "ours sends Basic, Nango's the form body: both work"
    ),
    ("bitbucket", "nango", "token_auth_method"): _basic_in_vendor_docs(
        "Bitbucket Cloud's OAuth 2.0 page (the consumer key and secret as basic auth)"
    ),
    ("netsuite", "nango", "token_auth_method"): _basic_in_vendor_docs(
        "NetSuite's OAuth 2.0 token endpoint help"
    ),
    ("constant_contact", "nango", "token_auth_method"): _basic_in_vendor_docs(
        "Constant Contact's server flow guide"
    ),
    ("front", "nango", "token_auth_method"): _basic_in_vendor_docs("Front's OAuth guide"),
    ("shopify", "nango", "scope_separator"): (
        "Shopify's authorization request takes a comma-separated list of scopes (Shopify's "
        "OAuth description, and its API library's scope delimiter ','); Nango's entry keeps "
        "the default space"
    ),
    ("zoho_crm", "nango", "scope_separator"): _zoho_commas("Zoho CRM's OAuth overview"),
    ("zoho_books", "nango", "scope_separator"): _zoho_commas("Zoho Books' OAuth page"),
    ("zoho_invoice", "nango", "scope_separator"): _zoho_commas("Zoho Invoice's OAuth page"),
    ("zoho_bigin", "nango", "scope_separator"): _zoho_commas("Bigin's OAuth overview"),
    ("zoom", "nango", "scope_separator"): (
        "Zoom's token responses list the granted scopes space-separated, as RFC 6749 has "
        "them; Nango's entry joins requested scopes with commas (ours asks none by default: "
        "a Zoom app's scopes are set on the app)"
    ),
}
