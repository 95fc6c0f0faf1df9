"""What each sealed value is for: the ``purpose`` bound into its envelope's AAD.

One list, so that ``tether keys rotate`` reseals every kind of envelope there is, and a value
sealed for one purpose never opens as another. Each owner seals with its record's id:

* ``credentials``: a connection's credential payload (``SECRETS=db``), record = connection id;
* ``access_token``: a connection's OAuth access token on its record, record = connection id;
* ``notify_secret``: a tenant's event-signing secret in its settings, record = secret id;
* ``oauth_state``: a pending authorization's PKCE verifier (and a custom client's
  credentials), record = the state's hash.
"""

from __future__ import annotations

__all__ = [
    "ACCESS_TOKEN_PURPOSE",
    "CREDENTIALS_PURPOSE",
    "NOTIFY_SECRET_PURPOSE",
    "OAUTH_STATE_PURPOSE",
]

# AAD labels, not secrets.
CREDENTIALS_PURPOSE = "credentials"
ACCESS_TOKEN_PURPOSE = "access_token"  # noqa: S105
NOTIFY_SECRET_PURPOSE = "notify_secret"  # noqa: S105
OAUTH_STATE_PURPOSE = "oauth_state"
