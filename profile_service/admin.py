"""python -m profile_service.admin grant --uid U --amount N [--expires-in DAYS] --reason TEXT [--key KEY]

The operators' tool. It goes through the running profile service over gRPC (PROFILE_TARGET) with its own
credential, AUTH_TOKEN_ADMIN (and, under mTLS, the admin client certificate: TLS_CA_FILE,
TLS_CLIENT_CERT_FILE, TLS_CLIENT_KEY_FILE), so the permission table applies: the admin caller may call
AdminGrantTokens only, which makes promotional grants and adjustments and nothing that looks like money paid.

Exactly once per --key (default: a new key, printed): to retry a run whose answer was lost, run it again with
the printed key and --expires-at (the printed expiry), so the retry is the same request and replays."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import grpc

from service_kit.channels import auth_metadata, open_channel
from service_kit.logs import configure_logging
from service_kit.rich_errors import details_of
from service_kit.settings import CommonSettings
from service_kit.startup import run_main
from service_kit.timestamps import to_timestamp
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc


class AdminSettings(CommonSettings):
    profile_target: str = "127.0.0.1:50051"


def grant_request(args: argparse.Namespace, now: datetime) -> pb.GrantTokensRequest:
    request = pb.GrantTokensRequest(
        uid=args.uid,
        amount=args.amount,
        type=pb.TOKEN_ENTRY_TYPE_ADJUSTMENT if args.adjustment else pb.TOKEN_ENTRY_TYPE_PROMOTIONAL,
        idempotency_key=args.key,
        source={"granted_by": "admin", "reason": args.reason[:500]},
    )
    expires_at = args.expires_at
    if expires_at is None and args.expires_in is not None:
        # Whole seconds, so the printed expiry repeats the same request exactly.
        expires_at = (now + timedelta(days=args.expires_in)).replace(microsecond=0)
    if expires_at is not None:
        request.expires_at.CopyFrom(to_timestamp(expires_at))
    return request


async def grant(settings: AdminSettings, request: pb.GrantTokensRequest) -> dict[str, Any]:
    channel = open_channel(settings.profile_target, settings)
    try:
        stub = pb_grpc.ProfileServiceStub(channel)
        metadata = auth_metadata(settings.auth_token_admin.get_secret_value())
        reply = await stub.AdminGrantTokens(request, metadata=metadata, timeout=30)
    finally:
        await channel.close()
    return {
        "uid": request.uid,
        "key": request.idempotency_key,
        "amount": request.amount,
        "expires_at": request.expires_at.ToDatetime(UTC).isoformat() if request.HasField("expires_at") else None,
        "balance": reply.balance,
        "entry_id": reply.entry.entry_id,
        "already_applied": reply.already_applied,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m profile_service.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    g = commands.add_parser("grant", help="a promotional grant (or, with --adjustment, an adjustment)")
    g.add_argument("--uid", required=True)
    g.add_argument("--amount", required=True, type=int)
    g.add_argument("--reason", required=True, help="why: recorded on the ledger entry")
    expiry = g.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in", type=float, metavar="DAYS", help="expires this many days from now")
    expiry.add_argument(
        "--expires-at", type=lambda v: datetime.fromisoformat(v).astimezone(UTC), help="ISO 8601 expiry"
    )
    g.add_argument("--key", default="", help="idempotency key (default: a new one, printed)")
    g.add_argument("--adjustment", action="store_true", help="an ADJUSTMENT entry instead of PROMOTIONAL")
    return parser


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    settings = AdminSettings()
    configure_logging(settings.log_level)
    args.key = args.key or f"admin-grant:{uuid.uuid4().hex}"
    request = grant_request(args, datetime.now(UTC))
    try:
        result = asyncio.run(grant(settings, request))
    except grpc.RpcError as exc:
        details = details_of(exc)
        error = {"error": details.code.name, "reason": details.reason, "message": details.message}
        print(json.dumps({**error, "retry_with_key": request.idempotency_key}), file=out)
        return 1
    print(json.dumps(result), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("profile_service.admin", main))
