"""What every API view shares: roles (annotation.roles), throttles, cursor pages, form validation."""

from rest_framework import pagination, permissions
from rest_framework.views import APIView

from annotation import roles
from annotation.api.problems import Invalid
from annotation.api.throttling import ClientRateThrottle, TokenRateThrottle


class HasStudioRole(permissions.BasePermission):
    """Logged in (401 otherwise) and holding one of the view's roles for this method (403 otherwise).

    `view.roles` applies to every method; `view.write_roles`, when set, to unsafe methods instead.
    """

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        needed = view.roles
        if request.method not in permissions.SAFE_METHODS and getattr(view, "write_roles", None) is not None:
            needed = view.write_roles
        if needed and not roles.has_role(request.user, *needed):
            self.message = f"This is for the {' or '.join(needed)} role."
            return False
        return True


class StudioView(APIView):
    roles: tuple = ()
    write_roles: tuple | None = None
    permission_classes = [HasStudioRole]
    throttle_classes = [TokenRateThrottle]

    @classmethod
    def as_view(cls, **initkwargs):
        view = super().as_view(**initkwargs)
        # The API answers 401 itself; LoginRequiredMiddleware would redirect to the login page.
        view.login_required = False
        return view

    def initial(self, request, *args, **kwargs):
        # The per-client limit is counted before authentication, so guessing tokens is limited too.
        client = ClientRateThrottle()
        if not client.allow_request(request, self):
            self.throttled(request, client.wait())
        super().initial(request, *args, **kwargs)


class CursorPage(pagination.CursorPagination):
    """Newest first by id; `cursor` is opaque, `page_size` up to 200."""

    ordering = "-pk"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def valid_form(form):
    """The page's own form, validated: 400 with its field errors, else the form."""
    if not form.is_valid():
        errors = _form_errors(form)
        raise Invalid(f"{len(errors)} error(s) in the input; nothing was saved.", errors)
    return form


def _form_errors(form) -> list[dict]:
    return [
        {"field": None if name == "__all__" else name, "message": str(message), "line": None}
        for name, messages in form.errors.items()
        for message in messages
    ]


def paginate(view, request, queryset, serialize):
    paginator = CursorPage()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([serialize(row) for row in page])


def shape(name: str, fields: dict):
    """A named response or request shape for the schema (a Serializer class with these fields)."""
    from rest_framework import serializers

    return type(name, (serializers.Serializer,), dict(fields))


_PAGES = {}


def page_of(item):
    """The shape of a cursor page of `item`s: {next, previous, results}."""
    from rest_framework import serializers

    if item not in _PAGES:
        _PAGES[item] = shape(
            f"{item.__name__.removesuffix('Out')}Page",
            {
                "next": serializers.URLField(allow_null=True, help_text="The next page, or null on the last."),
                "previous": serializers.URLField(allow_null=True),
                "results": item(many=True),
            },
        )
    return _PAGES[item]
