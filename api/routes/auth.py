"""``/token`` (OAuth2 password flow) and ``/me``: who the bearer of a token is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from gisgrid.access.auth import Caller, Token, authenticate, issue_token

router = APIRouter(tags=["auth"], route_class=FieldErrorRoute)


@router.post(
    "/token",
    summary="OAuth2 password flow: a bearer token for a username and password",
    responses={401: {"description": "Incorrect username or password, or inactive account"}},
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:  # the library's dataclasses serve as the schemas, here and in /me
    account = authenticate(session, form.username, form.password)
    return issue_token(account.id, account.role, settings)


@router.get("/me", summary="The caller: account, role and scope")
def me(caller: CallerDep) -> Caller:
    return caller
