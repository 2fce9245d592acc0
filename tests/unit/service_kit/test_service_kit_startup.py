"""service_kit.startup words misconfigurations as one line; CommonSettings refuses unusable TLS settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.auth.exceptions import DefaultCredentialsError
from pydantic import ValidationError

from service_kit.settings import CommonSettings
from service_kit.startup import EX_CONFIG, ConfigurationError, check_listen_address, describe, run_main


def validation_error(**values: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        CommonSettings(_env_file=None, **values)
    return info.value


def test_a_field_error_names_its_variable() -> None:
    assert describe(validation_error(shutdown_grace_s=500)) == (
        "SHUTDOWN_GRACE_S: Input should be less than or equal to 120"
    )


def test_a_model_rule_keeps_its_own_wording() -> None:
    assert describe(validation_error(tls_cert_file="/etc/hostname")) == (
        "TLS_CERT_FILE is set but TLS_KEY_FILE is not: both are needed"
    )


def test_secrets_are_never_echoed() -> None:
    line = describe(validation_error(tls_ca_file="/nonexistent/ca.pem", auth_token_gateway="s3cret-value"))
    assert line == "TLS_CA_FILE=/nonexistent/ca.pem does not exist" and "s3cret" not in line


def test_missing_google_credentials_and_chained_causes() -> None:
    assert describe(DefaultCredentialsError("Your default credentials were not found")).startswith(
        "GOOGLE_APPLICATION_CREDENTIALS: no Google credentials found"
    )
    try:
        try:
            raise ConfigurationError("BILLING_CATALOGUE", "not JSON")
        except ConfigurationError as inner:
            raise RuntimeError("while building billing") from inner
    except RuntimeError as outer:
        assert describe(outer) == "BILLING_CATALOGUE: not JSON"


def test_a_bug_is_not_a_misconfiguration() -> None:
    assert describe(ZeroDivisionError("division by zero")) is None
    with pytest.raises(ZeroDivisionError):
        run_main("svc", lambda: 1 // 0)


def test_run_main_prints_one_line_and_exits_78(capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> int:
        raise ConfigurationError("PROFILE_LISTEN", "cannot listen on\n127.0.0.1:1")

    assert run_main("profile_service", main) == EX_CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "profile_service: configuration error: PROFILE_LISTEN: cannot listen on 127.0.0.1:1\n"
    assert run_main("profile_service", lambda: 0) == 0


@pytest.mark.parametrize("address", ["8080", "host:", ":80", "127.0.0.1:99999", "127.0.0.1:http"])
def test_listen_addresses_are_host_and_port(address: str) -> None:
    with pytest.raises(ConfigurationError, match="PROFILE_LISTEN: expected HOST:PORT"):
        check_listen_address(address, "PROFILE_LISTEN")
    check_listen_address("127.0.0.1:0", "PROFILE_LISTEN")


@pytest.mark.parametrize(
    "values,message",
    [
        ({"tls_client_cert_file": "{f}", "tls_client_key_file": "{f}"}, "TLS_CLIENT_CERT_FILE needs TLS_CA_FILE"),
        ({"tls_client_ca_file": "{f}"}, "TLS_CLIENT_CA_FILE (mTLS) needs TLS_CERT_FILE"),
        ({"tls_key_file": "{f}"}, "TLS_KEY_FILE is set but TLS_CERT_FILE is not"),
        ({"tls_cert_file": "{f}/missing.pem", "tls_key_file": "{f}"}, "does not exist"),
    ],
)
def test_tls_settings_must_be_usable(tmp_path: Path, values: dict[str, str], message: str) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("-")
    filled = {key: value.replace("{f}", str(pem) if value == "{f}" else str(tmp_path)) for key, value in values.items()}
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CommonSettings(_env_file=None, **filled)
