from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from service_kit.settings import CommonSettings


class ProfileSettings(CommonSettings):
    profile_listen: str = "127.0.0.1:50051"
    profile_store: Literal["sqlite", "firestore"] = "sqlite"
    sqlite_path: str = "data/profile.sqlite3"
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, le=600_000)
    google_cloud_project: str = ""
    firestore_database: str = "(default)"
    # Stop retrying a Firestore transaction after this many attempts (contention).
    firestore_max_attempts: int = Field(25, ge=1, le=100)

    def required_production_secrets(self) -> list[str]:
        return ["auth_token_gateway", "auth_token_billing"]

    @model_validator(mode="after")
    def _firestore_needs_project(self) -> ProfileSettings:
        if self.profile_store == "firestore" and not self.google_cloud_project:
            raise ValueError("PROFILE_STORE=firestore needs GOOGLE_CLOUD_PROJECT")
        return self
