"""GatewaySettings validation: production guards, list parsing, the listen address (no server)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings

REAL = "g-7f3a9c21e4b0d8a6"


def settings(**values: object) -> GatewaySettings:
    return GatewaySettings(_env_file=None, **values)


def test_local_defaults() -> None:
    s = settings(app_env="local")
    assert s.firebase_project_id == "demo-tokens" and s.local_dev_sign_in is True
    assert (s.listen_host, s.listen_port) == ("127.0.0.1", 8080)


def test_cors_origins_come_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", " https://app.example.com, http://localhost:3000 ,")
    assert settings().cors_origins == ["https://app.example.com", "http://localhost:3000"]


@pytest.mark.parametrize(
    "listen,host,port", [("0.0.0.0:9000", "0.0.0.0", 9000), ("[::1]:81", "::1", 81), (":8080", "127.0.0.1", 8080)]
)
def test_listen_address(listen: str, host: str, port: int) -> None:
    s = settings(gateway_listen=listen)
    assert (s.listen_host, s.listen_port) == (host, port)


@pytest.mark.parametrize(
    "values,named",
    [
        ({}, "FIREBASE_PROJECT_ID"),
        ({"firebase_project_id": "p", "auth_token_gateway": ""}, "AUTH_TOKEN_GATEWAY"),
        ({"firebase_project_id": "p", "auth_token_gateway": "local-gw-x"}, "AUTH_TOKEN_GATEWAY"),
        ({"firebase_project_id": "p", "firebase_auth_emulator_host": "127.0.0.1:9099"}, "FIREBASE_AUTH_EMULATOR_HOST"),
        ({"firebase_project_id": "p", "cors_origins": "*"}, "CORS_ORIGINS"),
        ({"firebase_project_id": "p", "local_dev_sign_in": True}, "LOCAL_DEV_SIGN_IN"),
        ({"firebase_project_id": "p", "local_dev_key_file": "/tmp/k.pem"}, "LOCAL_DEV_KEY_FILE"),
    ],
)
def test_production_refuses(values: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        settings(app_env="production", **{"auth_token_gateway": REAL, **values})


def test_production_with_real_values_is_accepted() -> None:
    s = settings(app_env="production", firebase_project_id="p", auth_token_gateway=REAL)
    assert s.local_dev_sign_in is False and s.firebase_project_id == "p"


@pytest.mark.parametrize(
    "field,value", [("downstream_timeout_s", 0), ("auth_clock_skew_s", 301), ("max_body_bytes", 10), ("app_env", "dev")]
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        settings(**{field: value})
