"""clients/typescript/src/schema.ts: openapi-typescript's types for the gateway's /openapi.json.

Regenerate after changing the gateway's API (tests/clients/test_typescript_client.py fails until you do):

    .venv/bin/python -m tests.clients.typescript_schema
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from gateway.app import create_app
from gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
SCHEMA_TS = CLIENT / "src" / "schema.ts"
NODE_BIN = ROOT / "node_modules" / ".bin"
OPENAPI_TYPESCRIPT = NODE_BIN / "openapi-typescript"
TSC = NODE_BIN / "tsc"


def openapi_document() -> dict:
    """What the gateway serves at /openapi.json (built in-process; no server needed)."""
    return create_app(GatewaySettings(_env_file=None, app_env="local")).openapi()


def generate_schema(out: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        document = Path(work) / "openapi.json"
        document.write_text(json.dumps(openapi_document()))
        result = subprocess.run(
            [str(OPENAPI_TYPESCRIPT), str(document), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    if result.returncode != 0:
        raise RuntimeError(f"openapi-typescript failed:\n{result.stdout}{result.stderr}")


if __name__ == "__main__":
    generate_schema(SCHEMA_TS)
    print(f"wrote {SCHEMA_TS.relative_to(ROOT)}")
