from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from profile_service.domain.ledger import ShortfallPolicy
from service_kit.settings import CommonSettings
from tokens import contract_rules as limits


class ProfileSettings(CommonSettings):
    profile_listen: str = "127.0.0.1:50051"
    # Prometheus metrics (GET /metrics) on their own address, never the public one; empty = not served.
    metrics_listen: str = "127.0.0.1:9461"
    profile_store: Literal["sqlite", "firestore"] = "sqlite"
    sqlite_path: str = "data/profile.sqlite3"
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, le=600_000)
    google_cloud_project: str = ""
    firestore_database: str = "(default)"
    # Stop retrying a Firestore transaction after this many attempts (contention).
    firestore_max_attempts: int = Field(25, ge=1, le=100)
    # Cap on each Firestore call (begin, read, commit, rollback), retries included; never beyond the deadline.
    firestore_rpc_timeout_s: float = Field(10.0, gt=0, le=120)
    # One writer queue per user with group commit (write_queue.py); false = one transaction per call.
    profile_write_queue: bool = True
    # At most this many changes of one user in one transaction (Firestore: reads <= this + 1 documents).
    profile_write_batch_max: int = Field(100, ge=1, le=400)
    # How long a worker waits for more changes before a batch that is not full; 0 = take what is pending.
    profile_write_batch_wait_ms: int = Field(0, ge=0, le=1000)
    # The longest a write waits and runs when the caller's deadline is later or absent.
    profile_write_timeout_s: float = Field(30.0, gt=0, le=600)
    # What RevokeTokens does with tokens it cannot take: carry them as debt that the next grants settle
    # first, or forgive them (clamp at zero and record the shortfall).
    shortfall_policy: ShortfallPolicy = ShortfallPolicy.CARRY
    # WatchProfile re-reads a watched profile at least this often: it sees changes made by other processes
    # sharing a SQLite file (Firestore listeners tell at once; there the poll is only a safety net).
    profile_watch_poll_s: float = Field(5.0, ge=0.05, le=3600)
    # How often the service writes the expiries of grants and releases of holds that are due (0 = never;
    # balances are right without it: every read and write counts only what has not expired).
    expiry_sweep_interval_s: float = Field(60.0, ge=0, le=86_400)
    # A promotional grant for every new profile (key signup-bonus), 0 = off; it expires after the TTL in
    # days (0 = never).
    signup_bonus_tokens: int = Field(0, ge=0, le=limits.MAX_TOKEN_AMOUNT)
    signup_bonus_ttl_days: int = Field(0, ge=0, le=3650)

    def required_production_secrets(self) -> list[str]:
        return ["auth_token_gateway", "auth_token_billing"]

    @model_validator(mode="after")
    def _firestore_needs_project(self) -> ProfileSettings:
        if self.profile_store == "firestore" and not self.google_cloud_project:
            raise ValueError("PROFILE_STORE=firestore needs GOOGLE_CLOUD_PROJECT")
        return self

    @model_validator(mode="after")
    def _sqlite_folder_can_exist(self) -> ProfileSettings:
        # The store creates missing folders; a file where a folder must be is a start-up error, not a traceback.
        if self.profile_store == "sqlite":
            for folder in Path(self.sqlite_path).parents:
                if folder.exists():
                    if not folder.is_dir():
                        raise ValueError(f"SQLITE_PATH={self.sqlite_path}: {folder} is not a folder")
                    break
        return self
