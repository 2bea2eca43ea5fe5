"""How the API knows who asks: an API token (``Authorization: Bearer dbk_...``), or the browser's session."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api import services
from api.models import ApiToken


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"bearer", b"token"):
            return None  # not ours: the session may still authenticate
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as: Authorization: Bearer <token>.")
        try:
            plaintext = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = services.authenticate(plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, has expired or was revoked.")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes a refused request a 401 with WWW-Authenticate, not a 403.
        return 'Bearer realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The logged-in browser: the pages' session, with Django's CSRF check on every unsafe method."""
