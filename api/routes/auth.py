"""``/token`` (OAuth2 password flow), ``/activate`` (first sign-in with a one-time code) and
``/me``: who the bearer of a token is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from gisgrid.access.accounts import activate
from gisgrid.access.auth import authenticate, issue_token

router = APIRouter(tags=["auth"], route_class=FieldErrorRoute)


class TokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int


class ScopeOut(BaseModel):
    level: str | None
    area_id: int | None


class CallerOut(BaseModel):
    account_id: int
    username: str
    display_name: str | None
    role: str
    unit_id: int | None
    scope: ScopeOut


@router.post(
    "/token",
    summary="OAuth2 password flow: a bearer token for a username and password",
    responses={401: {"description": "Incorrect username or password, or inactive account"}},
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenOut:
    account = authenticate(session, form.username, form.password)
    t = issue_token(account.id, account.role, settings, version=account.token_version)
    return TokenOut(access_token=t.access_token, token_type=t.token_type, expires_in=t.expires_in)


@router.post(
    "/activate",
    summary="First sign-in: a one-time activation code and a new password; a bearer token",
    responses={
        400: {"description": "The new password breaks the password rule"},
        401: {"description": "Incorrect username or code, expired code, or inactive account"},
    },
)
def activate_account(
    username: Annotated[str, Form()],
    code: Annotated[str, Form(description="The one-time activation code, e.g. 7K2M-...")],
    password: Annotated[str, Form(description="The account's new password")],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenOut:
    account = activate(session, username, code, password)
    session.commit()
    t = issue_token(account.id, account.role, settings, version=account.token_version)
    return TokenOut(access_token=t.access_token, token_type=t.token_type, expires_in=t.expires_in)


@router.get("/me", summary="The caller: account, role and scope")
def me(caller: CallerDep) -> CallerOut:
    return CallerOut(
        account_id=caller.account_id,
        username=caller.username,
        display_name=caller.display_name,
        role=caller.role,
        unit_id=caller.unit_id,
        scope=ScopeOut(level=caller.scope.level, area_id=caller.scope.area_id),
    )
