"""The API's one permission check: the same named permissions (core.access) as the pages, per action.

Each view says what every action needs in ``perms`` (action or HTTP method -> Perm). An action missing
there is refused: nothing is open by default. A read-only token is refused anything that changes state,
whatever its user's role allows.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from api.models import ApiToken
from core.access import Perm, can, has_role


def needed(view: Any, request: Request) -> Perm | None:
    perms: dict[str, Perm] = getattr(view, "perms", {})
    action = getattr(view, "action", None)
    if action and action in perms:
        return perms[action]
    return perms.get(request.method or "")


class HasPerm(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated
        if not has_role(request.user):
            raise exceptions.PermissionDenied("Your account has no role yet: ask an administrator for one.")
        perm = needed(view, request)
        if perm is None:
            if getattr(view, "action_map", None) is not None and request.method.lower() not in view.action_map:
                return True  # a method this URL does not take: the view answers 405 and does nothing
            raise exceptions.PermissionDenied("This action is not offered.")
        if (
            isinstance(request.auth, ApiToken)
            and not request.auth.writes
            and request.method not in permissions.SAFE_METHODS
        ):
            raise exceptions.PermissionDenied("This token is read-only: it may not change anything.")
        if not can(request.user, perm):
            raise exceptions.PermissionDenied(f"Your role lacks the permission {perm.value}.")
        return True
