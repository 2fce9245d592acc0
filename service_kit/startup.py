"""Start-up errors as one line. A misconfigured service exits with EX_CONFIG (78) and a single line on
stderr naming the variable and what is wrong, never a traceback:

    profile_service: configuration error: PROFILE_STORE=firestore needs GOOGLE_CLOUD_PROJECT

Every `__main__` runs its main through run_main(); settings and adapters raise what they raise (pydantic's
ValidationError, google-auth's DefaultCredentialsError, ConfigurationError) and this module words them."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable

from pydantic import ValidationError

EX_CONFIG = 78  # sysexits.h: configuration error

_GOOGLE_CREDENTIALS_HINT = (
    "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, run "
    "`gcloud auth application-default login`, run on Google Cloud with a service account, or set "
    "FIRESTORE_EMULATOR_HOST to use the emulator"
)


class ConfigurationError(Exception):
    """A setting that cannot work: `variable` names it, `problem` says why."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


def check_listen_address(address: str, variable: str) -> None:
    """ConfigurationError naming `variable` unless HOST:PORT can be bound here now (a probe, released at once)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ConfigurationError(variable, f"expected HOST:PORT (e.g. 127.0.0.1:50051), got {address!r}")
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    except OSError as exc:
        raise ConfigurationError(variable, f"cannot listen on {address}: {exc.strerror or exc}") from None


def _validation_line(error: ValidationError, env_prefix: str) -> str:
    problems: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        location = [str(part) for part in item.get("loc", ())]
        if location:
            problems.append(f"{(env_prefix + location[0]).upper()}: {message}")
        else:  # a whole-model rule: its message names the variables itself
            problems.append(message)
    return "; ".join(dict.fromkeys(problems)) or str(error)


def describe(error: BaseException, env_prefix: str = "") -> str | None:
    """One line for a known misconfiguration, or None for anything else (a bug keeps its traceback)."""
    if isinstance(error, ValidationError):
        return _validation_line(error, env_prefix)
    if isinstance(error, ConfigurationError):
        return str(error)
    if type(error).__name__ == "DefaultCredentialsError" and type(error).__module__.startswith("google.auth"):
        return f"GOOGLE_APPLICATION_CREDENTIALS: {_GOOGLE_CREDENTIALS_HINT}"
    cause = error.__cause__ or error.__context__
    return describe(cause, env_prefix) if cause is not None and cause is not error else None


def run_main(service: str, main: Callable[[], int], env_prefix: str = "") -> int:
    """main()'s exit code; a misconfiguration is one line on stderr and EX_CONFIG."""
    # google-auth logs a warning per credential source it tried; the line below says it all.
    logging.getLogger("google.auth._default").setLevel(logging.ERROR)
    try:
        return main()
    except Exception as error:
        line = describe(error, env_prefix)
        if line is None:
            raise
        sys.stderr.write(f"{service}: configuration error: {' '.join(line.split())}\n")
        sys.stderr.flush()
        return EX_CONFIG
