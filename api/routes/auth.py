"""``/token`` (OAuth2 password flow), ``/activate`` (first sign-in with a one-time code) and
``/me``: who the bearer of a token is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from gisgrid.access.accounts import activate
from gisgrid.access.auth import Caller, Token, issue_token
from gisgrid.access.signin import sign_in, throttled

router = APIRouter(tags=["auth"], route_class=FieldErrorRoute)


@router.post(
    "/token",
    summary="OAuth2 password flow: a bearer token for a username and password",
    responses={
        400: {"description": "A form field is missing; `field` names it"},
        401: {"description": "Incorrect username or password, or inactive account"},
        429: {
            "description": "Too many failed sign-ins for this username or client lately, or"
            " too many at once; Retry-After says when to try again"
        },
    },
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Token:  # the library's dataclasses serve as the schemas, here and in /me
    client = request.client.host if request.client else None
    account = sign_in(session, form.username, form.password, request.app.state.signin, client)
    return issue_token(account.id, account.role, settings, version=account.token_version)


@router.post(
    "/activate",
    summary="First sign-in: a one-time activation code and a new password; a bearer token",
    responses={
        400: {"description": "The new password breaks the password rule"},
        401: {"description": "Incorrect username or code, expired code, or inactive account"},
        429: {
            "description": "Too many failed sign-ins or activations for this username or client"
            " lately; Retry-After says when to try again"
        },
    },
)
def activate_account(
    request: Request,
    username: Annotated[str, Form()],
    code: Annotated[str, Form(description="The one-time activation code, e.g. 7K2M-...")],
    password: Annotated[str, Form(description="The account's new password")],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    # wrong codes count against the username and the client as wrong passwords do
    client = request.client.host if request.client else None
    account = throttled(
        request.app.state.signin,
        username,
        client,
        lambda: activate(session, username, code, password),
    )
    session.commit()
    return issue_token(account.id, account.role, settings, version=account.token_version)


@router.get("/me", summary="The caller: account, role and scope")
def me(caller: CallerDep) -> Caller:
    return caller
