"""Every documented misconfiguration (README, "Start-up errors") stops its service with exit code 78 and ONE
line on stderr naming the variable: no traceback, no log noise. Each runs as a real `python -m <service>`."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from pathlib import Path

import pytest

from service_kit.startup import EX_CONFIG

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"^### Start-up errors\n(.*?)(?=\n## |\n### |\Z)", re.S | re.M)


def documented() -> list[tuple[str, dict[str, str], str]]:
    """(service, environment, what the line says) for each row of the README's table."""
    match = SECTION.search((ROOT / "README.md").read_text())
    assert match, "README.md has no 'Start-up errors' section"
    cases = []
    for line in match.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        service = cells[0].strip("`")
        environment = dict(pair.split("=", 1) for pair in re.findall(r"`([^`]*)`", cells[1])[0].split())
        cases.append((service, environment, cells[2].strip("`")))
    return cases


CASES = documented()


def clean_environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """Only what the case sets, on free ports, and no way for google-auth to find or fetch credentials (no
    metadata server lookup leaves this machine: it is switched off and pointed at a closed local port)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:1",
        "GCE_METADATA_IP": "127.0.0.1:1",
        "PROFILE_LISTEN": "127.0.0.1:0",
        "BILLING_LISTEN": "127.0.0.1:0",
        "GATEWAY_LISTEN": "127.0.0.1:0",
        "METRICS_LISTEN": "127.0.0.1:0",
        "SQLITE_PATH": str(tmp_path / "profile.sqlite3"),
        **settings,
    }


async def start(service: str, env: dict[str, str]) -> tuple[int | None, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        service,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:  # it started serving: the misconfiguration was not caught
        proc.kill()
        out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def assert_one_line_naming(code: int | None, out: str, err: str, service: str, expected: str) -> None:
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert code == EX_CONFIG, (code, lines)
    assert "Traceback" not in out + err
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{service}: configuration error: "), lines
    assert expected in lines[0], lines


def test_the_readme_documents_every_service() -> None:
    assert {service for service, _, _ in CASES} == {"profile_service", "billing_service", "gateway"}
    assert len(CASES) >= 12


@pytest.mark.parametrize("service,environment,expected", CASES, ids=[f"{s}:{' '.join(e)}" for s, e, _ in CASES])
async def test_a_documented_misconfiguration_is_one_line(
    tmp_path: Path, service: str, environment: dict[str, str], expected: str
) -> None:
    code, out, err = await start(service, clean_environment(tmp_path, **environment))
    assert_one_line_naming(code, out, err, service, expected)


@pytest.mark.parametrize(
    "service,variable",
    [
        ("gateway", "GATEWAY_LISTEN"),
        ("profile_service", "PROFILE_LISTEN"),
        ("gateway", "METRICS_LISTEN"),
        ("profile_service", "METRICS_LISTEN"),
        ("billing_service", "METRICS_LISTEN"),
    ],
)
async def test_a_port_in_use_is_named(tmp_path: Path, service: str, variable: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        code, out, err = await start(service, clean_environment(tmp_path, **{variable: address}))
    assert_one_line_naming(code, out, err, service, f"{variable}: cannot listen on {address}")
