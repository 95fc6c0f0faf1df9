"""What the deployment tests share: the entry points of ``functions/main.py`` (one deployed
function each) and the keyring as the Terraform gives it, a Secret Manager secret version."""

from __future__ import annotations

import ast
from pathlib import Path

from google.cloud.secretmanager_v1 import SecretManagerServiceClient

from tether.adapters.secret_manager.keyring import SecretManagerKeyringOrigin

ROOT = Path(__file__).resolve().parents[2]


def entry_points() -> list[str]:
    """The names of the HTTP functions of ``functions/main.py``, sorted."""
    tree = ast.parse((ROOT / "functions" / "main.py").read_text())
    return sorted(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d) == "functions_framework.http" for d in node.decorator_list)
    )


def keyring_secret_version(client: SecretManagerServiceClient, project: str, keyring: str) -> str:
    """A new ``tetherapp-keyring`` secret of ``project`` holding ``keyring``; the name of its
    latest version (what a function is given to read at start)."""
    client.create_secret(
        request={
            "parent": project,
            "secret_id": "tetherapp-keyring",
            "secret": {"replication": {"automatic": {}}},
        }
    )
    version = f"{project}/secrets/tetherapp-keyring/versions/latest"
    SecretManagerKeyringOrigin(client, version).write(keyring)
    return version
