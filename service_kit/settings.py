"""Settings fields every service shares. Each service builds one Settings object at start-up from the
environment (see .env.example) and passes it down."""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # "local" allows development keys and placeholder secrets; "production" refuses them.
    app_env: Literal["local", "production"] = "local"
    log_level: str = "INFO"
    grpc_reflection: bool = True
    shutdown_grace_s: float = Field(5.0, ge=0, le=120)

    @property
    def is_local(self) -> bool:
        return self.app_env == "local"
