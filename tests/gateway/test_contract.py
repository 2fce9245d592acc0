"""Contract check: types generated from the gateway's /openapi.json (npm openapi-typescript) must be
assignable to the frontend's model interfaces in contract/models.ts, checked by tsc (contract/check.ts)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "contract"
BIN = ROOT / "node_modules" / ".bin"
OPENAPI_TYPESCRIPT = BIN / "openapi-typescript"
TSC = BIN / "tsc"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (needed for the TypeScript check)"),
    pytest.mark.skipif(
        not (OPENAPI_TYPESCRIPT.exists() and TSC.exists()), reason="node_modules missing: run `make install` (npm ci)"
    ),
]


async def _dump_openapi(path: Path) -> dict:
    app = create_app(GatewaySettings(_env_file=None, app_env="local"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    await asyncio.to_thread(path.write_text, response.text)
    return response.json()


def _prepare(tmp_path: Path) -> Path:
    for name in ("models.ts", "check.ts", "tsconfig.json"):
        shutil.copy(CONTRACT / name, tmp_path / name)
    return tmp_path


def _run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _generate_types(work: Path) -> None:
    (work / "generated").mkdir(exist_ok=True)
    generated = _run(OPENAPI_TYPESCRIPT, work / "openapi.json", "-o", work / "generated" / "openapi.ts", cwd=work)
    assert generated.returncode == 0, generated.stdout + generated.stderr


def _failed_assertions(work: Path, output: str) -> set[str]:
    """Names of the check.ts type assertions tsc reported (it reports positions, not names)."""
    lines = (work / "check.ts").read_text().splitlines()
    names = set()
    for match in re.finditer(r"check\.ts\((\d+),\d+\): error", output):
        declaration = re.search(r"export type (\w+)", lines[int(match.group(1)) - 1])
        names.add(declaration.group(1) if declaration else f"line {match.group(1)}")
    return names


async def test_generated_types_are_assignable_to_the_frontend_models(tmp_path: Path) -> None:
    work = _prepare(tmp_path)
    document = await _dump_openapi(work / "openapi.json")
    assert {"UserProfileData", "TokenTransaction", "UserDataUpdate"} <= set(document["components"]["schemas"])
    _generate_types(work)
    checked = _run(TSC, "-p", work / "tsconfig.json", cwd=work)
    assert checked.returncode == 0, f"{_failed_assertions(work, checked.stdout)}\n{checked.stdout}{checked.stderr}"


async def test_the_check_fails_when_the_browser_could_set_tokens(tmp_path: Path) -> None:
    """The check has teeth: a UserDataUpdate with `tokens` (the original's defect 5) does not compile."""
    work = _prepare(tmp_path)
    models = (work / "models.ts").read_text()
    broken = models.replace("  display_name?: string | null\n}", "  display_name?: string | null\n  tokens?: number\n}")
    assert broken != models
    (work / "models.ts").write_text(broken)
    await _dump_openapi(work / "openapi.json")
    _generate_types(work)
    checked = _run(TSC, "-p", work / "tsconfig.json", cwd=work)
    assert checked.returncode != 0
    assert _failed_assertions(work, checked.stdout) == {"UpdateFields", "ModelUpdateHasNoTokens"}, checked.stdout


def test_models_keep_the_original_field_names() -> None:
    models = (CONTRACT / "models.ts").read_text()
    for name in (
        "interface UserProfileData",
        "interface TokenTransaction",
        "interface UserDataUpdate",
        "  tokens: number",
        "  one_time_purchase: boolean",
        "  amount: number",
        "  timestamp: string",
    ):
        assert name in models
    update = models.split("interface UserDataUpdate", 1)[1]
    assert "tokens" not in update.split("}", 1)[0]
