"""Google Drive uploads and downloads.

``files.create`` with content is a multipart upload (``uploadType=multipart``) to the upload
path ``/upload/drive/v3/files`` at the root of the API's origin: a ``multipart/related`` body
whose first part is the file's JSON metadata and whose second is the content
(https://developers.google.com/drive/api/guides/manage-uploads#multipart). The body is written
by :func:`multipart_related`. ``files.get`` with ``alt=media`` answers
the content itself, returned base64-encoded and capped at :data:`MAX_DOWNLOAD_BYTES`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from tether.actions.mapping import input_error, path_segment
from tether.actions.provider_call import ProviderCall
from tether.domain.errors import InvalidRequest

__all__ = ["MAX_DOWNLOAD_BYTES", "download_file", "multipart_related", "upload_file"]

MAX_DOWNLOAD_BYTES = 5 * 1024 * 1024
_FIELDS = "id, name, mimeType, parents"
# type/subtype (RFC 6838 §4.2), matched whole: it is a header line of the media part, and the
# schema's ``pattern`` ends in ``$``, which Python's ``re`` also matches before a final "\n".
_MIME_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")


def multipart_related(
    metadata: Mapping[str, Any], content: bytes, mime_type: str
) -> tuple[str, bytes]:
    """The ``Content-Type`` header and body of a multipart upload (RFC 2387): the metadata
    part as JSON, then the media part byte for byte (``Content-Transfer-Encoding: binary``,
    as Google's own client library sends it). Written here rather than with :mod:`email`:
    its generator rewrites line ends inside a part and refuses bytes that are not ASCII."""
    boundary = secrets.token_hex(16)
    while boundary.encode() in content:  # pragma: no cover - 2**-128 per try
        boundary = secrets.token_hex(16)
    delimiter = b"--" + boundary.encode()
    body = b"".join(
        [
            delimiter + b"\r\n",
            b"Content-Type: application/json; charset=UTF-8\r\n\r\n",
            json.dumps(dict(metadata)).encode("utf-8") + b"\r\n",
            delimiter + b"\r\n",
            f"Content-Type: {mime_type}\r\n".encode("latin-1"),
            b"Content-Transfer-Encoding: binary\r\n\r\n",
            content + b"\r\n",
            delimiter + b"--\r\n",
        ]
    )
    return f'multipart/related; boundary="{boundary}"', body


def _upload_path(call: ProviderCall) -> str:
    """``/upload`` + the base URL's path: the API's upload path at its origin's root."""
    return "//upload" + urlsplit(call.base_url).path.rstrip("/") + "/files"


def upload_file(values: Mapping[str, Any], call: ProviderCall) -> dict[str, Any]:
    if "text" in values:
        content = str(values["text"]).encode("utf-8")
    else:
        try:
            content = base64.b64decode(values["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                "content_base64 is not valid base64",
                code="INVALID_INPUT",
                details={"field": "content_base64"},
            ) from None
    mime_type = str(values.get("mime_type") or "application/octet-stream")
    if not _MIME_TYPE.fullmatch(mime_type):
        raise input_error("mime_type", "must be a MIME type such as text/plain")
    metadata: dict[str, Any] = {"name": values["name"], "mimeType": mime_type}
    if values.get("parent_id"):
        metadata["parents"] = [values["parent_id"]]
    content_type, body = multipart_related(metadata, content, mime_type)
    return call.json_object(
        "POST",
        _upload_path(call),
        params={"uploadType": "multipart", "fields": _FIELDS},
        content=body,
        headers={"Content-Type": content_type},
    )


def download_file(values: Mapping[str, Any], call: ProviderCall) -> dict[str, Any]:
    file_id = str(values["file_id"])
    segment = path_segment(file_id, "file_id")
    response = call.request("GET", f"/files/{segment}", params={"alt": "media"})
    if len(response.content) > MAX_DOWNLOAD_BYTES:
        raise InvalidRequest(
            f"the file is larger than {MAX_DOWNLOAD_BYTES // (1024 * 1024)} MB; "
            "use the proxy to stream it",
            code="FILE_TOO_LARGE",
        )
    mime = next((v for k, v in response.headers.items() if k.lower() == "content-type"), None)
    return {
        "file_id": file_id,
        "mime_type": (mime or "application/octet-stream").split(";", 1)[0].strip(),
        "size": len(response.content),
        "content_base64": base64.b64encode(response.content).decode("ascii"),
    }
