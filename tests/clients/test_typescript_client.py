"""The TypeScript client (clients/typescript): its generated types are current, `tsc --strict` accepts it, and
its Node tests pass against a real running stack (gateway served by uvicorn -> profile + billing over gRPC ->
Stripe stand-in, whose webhooks come back to the gateway)."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.typescript_schema import CLIENT, OPENAPI_TYPESCRIPT, ROOT, SCHEMA_TS, TSC, generate_schema
from tests.gateway.harness import stack_in_thread
from tests.support.firebase_tokens import firebase_issuer

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (the TypeScript client needs it)"),
    pytest.mark.skipif(
        not (OPENAPI_TYPESCRIPT.exists() and TSC.exists()), reason="node_modules missing: run `make node` (npm ci)"
    ),
]

NODE_TESTS = ("errors.test", "events.test", "client.test")


def _run(*args: object, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def test_schema_ts_is_current(tmp_path: Path) -> None:
    fresh = tmp_path / "schema.ts"
    generate_schema(fresh)
    committed, expected = SCHEMA_TS.read_text(), fresh.read_text()
    if committed != expected:
        diff = difflib.unified_diff(
            committed.splitlines(), expected.splitlines(), "committed", "from /openapi.json", lineterm=""
        )
        pytest.fail(
            "clients/typescript/src/schema.ts is stale: run `.venv/bin/python -m tests.clients.typescript_schema`\n"
            + "\n".join(list(diff)[:60])
        )


def test_tsc_strict_accepts_the_client_its_tests_and_the_frontend_models() -> None:
    checked = _run(TSC, "-p", CLIENT / "tsconfig.json")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _test_count(source: Path) -> int:
    return len(re.findall(r"^test\(", source.read_text(), flags=re.MULTILINE))


def test_node_tests_drive_the_client_against_a_running_gateway(tmp_path: Path) -> None:
    out = tmp_path / "out"
    built = _run(TSC, "-p", CLIENT / "tsconfig.node.json", "--outDir", out)
    assert built.returncode == 0, built.stdout + built.stderr
    # The emitted files are CommonJS, whatever package.json a parent of the temp dir may hold.
    (out / "package.json").write_text(json.dumps({"type": "commonjs"}))
    compiled = [out / "clients" / "typescript" / "test" / f"{name}.js" for name in NODE_TESTS]
    expected = sum(_test_count(CLIENT / "test" / f"{name}.ts") for name in NODE_TESTS)

    uid_a, uid_b = "ts-client-alice", "ts-client-bob"
    with firebase_issuer() as issuer, stack_in_thread(issuer, str(tmp_path / "profiles.sqlite3")) as stack:
        env = {
            **os.environ,
            "NO_PROXY": "127.0.0.1,localhost",
            "GATEWAY_URL": stack.gateway_url,
            "STANDIN_URL": stack.standin_url,
            "UID_A": uid_a,
            "ID_TOKEN_A": issuer.mint(uid_a, email="alice@example.com"),
            "ID_TOKEN_B": issuer.mint(uid_b, email="bob@example.com"),
            "ID_TOKEN_EXPIRED": issuer.mint(uid_a, email="alice@example.com", expires_in=-3600),
        }
        ran = _run("node", "--test", "--test-reporter=spec", *compiled, env=env)
    output = ran.stdout + ran.stderr
    print(output)
    assert ran.returncode == 0, output
    passed = re.search(r"^\S* ?pass (\d+)$", ran.stdout, flags=re.MULTILINE)
    assert passed and int(passed.group(1)) == expected, f"expected {expected} passing Node tests:\n{output}"
