"""The URLs a connection's config fills into its catalog entry, checked when it is given.

A config value can satisfy its JSON Schema pattern (``^https?://\\S+$``) and still be an
address no HTTP client parses (``http://[::1``, ``http://0177.0.0.1``). Found only when the
first request is made, that is a 500 in the middle of a flow; found here it is a 400 naming
the field, before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tether.catalog.templates import PLACEHOLDER, is_absolute_url, placeholders, render_template
from tether.http.url_check import check_http_url

if TYPE_CHECKING:
    from tether.catalog import Provider

__all__ = ["check_config_urls"]


def check_config_urls(provider: Provider, config: Mapping[str, Any]) -> None:
    """Render every URL template of ``provider`` that ``config`` fills completely and check
    it parses (:func:`~tether.http.url_check.check_http_url`); templates naming an absent
    value are left to the flow that needs them (which reports the missing value)."""
    for where, template in provider.url_templates.items():
        if any(config.get(name) in (None, "") for name in placeholders(template)):
            continue
        url = render_template(template, config)
        if not is_absolute_url(url):
            continue  # a path under api_base_url, which is checked itself
        leading = PLACEHOLDER.match(template)
        check_http_url(url, field=leading.group(1) if leading else where)
