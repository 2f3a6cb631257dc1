"""Roles as Django groups with permissions, and the checks every view starts with.

author   writes prompt-response pairs
reviewer approves or sends back others' pairs
rater    works blind rating queues
admin    builds splits, starts runs, opens rounds, reads results
"""

from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef

AUTHOR = "author"
REVIEWER = "reviewer"
RATER = "rater"
ADMIN = "admin"
ROLES = (AUTHOR, REVIEWER, RATER, ADMIN)

# Model permissions each role's group carries (app "annotation" unless dotted).
ROLE_PERMISSIONS = {
    AUTHOR: [
        "add_prompt",
        "change_prompt",
        "view_prompt",
        "add_response",
        "change_response",
        "view_response",
        "view_riskdomain",
        "view_interventionstrategy",
        "view_resource",
    ],
    REVIEWER: [
        "view_prompt",
        "change_prompt",
        "view_response",
        "change_response",
        "add_review",
        "view_review",
        "view_riskdomain",
        "view_interventionstrategy",
        "view_resource",
    ],
    RATER: [],
    ADMIN: None,  # every permission of the annotation, auth and axes (login lockout) apps
}


def ensure_role_groups(**kwargs) -> None:
    """Create the role groups and (re)attach their permissions. Idempotent.

    Runs after every migrate: permissions only exist once their models' tables do.
    """
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if codenames is None:
            # Admins manage the whole studio, including its users, their groups and login lockouts.
            perms = Permission.objects.filter(content_type__app_label__in=["annotation", "auth", "axes"])
        else:
            perms = Permission.objects.filter(content_type__app_label="annotation", codename__in=codenames)
        group.permissions.set(perms)


def user_roles(user) -> frozenset[str]:
    """The user's roles, cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_studio_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(ROLES)
        else:
            cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._studio_roles = cached
    return cached


class RolesBackend(ModelBackend):
    """Django's model backend, loading each request's user together with their roles.

    Every page checks roles (and the top bar lists them): reading them in the query that loads
    the user from the session saves a query on every request.
    """

    def get_user(self, user_id):
        memberships = get_user_model().groups.through.objects.filter(user_id=OuterRef("pk"))
        flags = {f"_studio_role_{role}": Exists(memberships.filter(group__name=role)) for role in ROLES}
        user = get_user_model()._default_manager.annotate(**flags).filter(pk=user_id).first()
        if user is None or not self.user_can_authenticate(user):
            return None
        if not user.is_superuser:
            user._studio_roles = frozenset(role for role in ROLES if getattr(user, f"_studio_role_{role}"))
        return user


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def role_required(*roles: str):
    """View decorator: 403 unless the user holds one of `roles` (login is enforced by middleware)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has_role(request.user, *roles):
                raise PermissionDenied(f"This page is for the {' or '.join(roles)} role.")
            return view(request, *args, **kwargs)

        wrapper.studio_roles = roles
        return wrapper

    return decorator


def roles_context(request):
    roles = user_roles(request.user) if hasattr(request, "user") else frozenset()
    return {"studio_roles": roles}
