"""/v1/profile: the caller's own profile and token history. The uid always comes from the verified token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from google.protobuf import field_mask_pb2

from gateway import convert
from gateway.deps import CurrentUser, JsonBody, ProfileClient, WritingUser
from gateway.errors import AUTH_ERROR_RESPONSES, COMMON_ERROR_RESPONSES, JSON_BODY_ERROR_RESPONSES
from gateway.schemas import TokenHistoryPage, UserDataUpdate, UserProfileData
from service_kit.timestamps import to_timestamp
from tokens import contract_rules as limits
from tokens.profile.v1 import profile_service_pb2 as pb

router = APIRouter(prefix="/v1/profile", tags=["profile"], responses={**COMMON_ERROR_RESPONSES, **AUTH_ERROR_RESPONSES})


@router.post(
    "",
    response_model=UserProfileData,
    status_code=status.HTTP_200_OK,
    summary="Create the caller's profile (sign-up); on later sign-ins refresh email and last_login",
    responses={
        201: {"model": UserProfileData, "description": "Created."},
        200: {"description": "The profile already existed."},
    },
)
async def create_profile(user: WritingUser, profile: ProfileClient, response: Response) -> UserProfileData:
    created = await profile.call(profile.stub.CreateProfile, pb.CreateProfileRequest(uid=user.uid, email=user.email))
    if created.created:
        response.status_code = status.HTTP_201_CREATED
        return convert.profile(created.profile)
    # Sign-in: record it, and follow an email change made at the identity provider.
    paths = ["last_login"]
    changes = pb.UserProfile(uid=user.uid, last_login=to_timestamp(datetime.now(UTC)))
    if user.email and user.email != created.profile.email:
        paths.append("email")
        changes.email = user.email
    updated = await profile.call(
        profile.stub.UpdateProfile,
        pb.UpdateProfileRequest(profile=changes, update_mask=field_mask_pb2.FieldMask(paths=paths)),
    )
    return convert.profile(updated.profile)


@router.get("", response_model=UserProfileData, summary="The caller's profile, with tokens and access")
async def get_profile(user: CurrentUser, profile: ProfileClient) -> UserProfileData:
    reply = await profile.call(profile.stub.GetProfile, pb.GetProfileRequest(uid=user.uid))
    return convert.profile(reply.profile)


@router.patch(
    "",
    response_model=UserProfileData,
    summary="Change user-editable fields (display_name); tokens, access and billing fields are read-only",
    dependencies=[JsonBody],
    responses=JSON_BODY_ERROR_RESPONSES,
)
async def update_profile(body: UserDataUpdate, user: WritingUser, profile: ProfileClient) -> UserProfileData:
    paths = sorted(body.model_fields_set)
    changes = pb.UserProfile(uid=user.uid)
    if "display_name" in paths:
        changes.display_name = body.display_name or ""
    reply = await profile.call(
        profile.stub.UpdateProfile,
        pb.UpdateProfileRequest(profile=changes, update_mask=field_mask_pb2.FieldMask(paths=paths)),
    )
    return convert.profile(reply.profile)


@router.get("/token-history", response_model=TokenHistoryPage, summary="The caller's token history, newest first")
async def token_history(
    user: CurrentUser,
    profile: ProfileClient,
    page_size: Annotated[int, Query(ge=1, le=100, description="Entries per page (default 20).")] = 20,
    page_token: Annotated[
        str | None, Query(max_length=limits.PAGE_TOKEN_MAX_LEN, description="next_page_token of the previous page.")
    ] = None,
) -> TokenHistoryPage:
    reply = await profile.call(
        profile.stub.ListTokenHistory,
        pb.ListTokenHistoryRequest(uid=user.uid, page_size=page_size, page_token=page_token or ""),
    )
    return TokenHistoryPage(
        entries=[convert.transaction(e) for e in reply.entries],
        next_page_token=reply.next_page_token or None,
    )
