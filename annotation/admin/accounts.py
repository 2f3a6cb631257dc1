"""Django admin for users and groups: an admin who is not a superuser grants only what they hold.

Studio admins (the admin role: staff, not superusers) manage users and groups. Django's own
UserAdmin would let them tick "superuser" on any account, theirs included, and give anyone a
permission they lack. Here a non-superuser editor sees "superuser" read-only, is offered only
the permissions they hold and the groups made of those, and cannot change, re-password or
delete a user or group that holds more than they do (a superuser among them).
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from simple_history.admin import SimpleHistoryAdmin

User = get_user_model()


def held_permissions(user):
    """The permissions `user` holds, directly or through a group; every one for a superuser."""
    if user.is_superuser:
        return Permission.objects.all()
    return Permission.objects.filter(Q(user=user) | Q(group__user=user)).distinct()


def grantable_groups(editor):
    """Groups none of whose permissions `editor` lacks."""
    if editor.is_superuser:
        return Group.objects.all()
    return Group.objects.exclude(permissions__in=Permission.objects.exclude(pk__in=held_permissions(editor)))


def within_reach(editor, user) -> bool:
    """Whether `editor` holds everything `user` holds, so that editing `user` grants nothing new."""
    if editor.is_superuser:
        return True
    if user.is_superuser:
        return False
    return not held_permissions(user).exclude(pk__in=held_permissions(editor)).exists()


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class StudioUserAdmin(SimpleHistoryAdmin, UserAdmin):
    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly if request.user.is_superuser else [*readonly, "is_superuser"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "user_permissions":
            kwargs["queryset"] = held_permissions(request.user).select_related("content_type")
        elif db_field.name == "groups":
            kwargs["queryset"] = grantable_groups(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        # Also guards the admin's "change password" form for that user.
        return super().has_change_permission(request, obj) and (obj is None or within_reach(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or within_reach(request.user, obj))

    def delete_queryset(self, request, queryset):
        if not all(within_reach(request.user, user) for user in queryset):
            raise PermissionDenied("The selection holds a user with permissions you do not have.")
        super().delete_queryset(request, queryset)


@admin.register(Group)
class StudioGroupAdmin(SimpleHistoryAdmin, GroupAdmin):
    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "permissions":
            kwargs["queryset"] = held_permissions(request.user).select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or _group_within_reach(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or _group_within_reach(request.user, obj))


def _group_within_reach(editor, group) -> bool:
    return grantable_groups(editor).filter(pk=group.pk).exists()
