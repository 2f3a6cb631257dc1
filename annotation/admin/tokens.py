"""Django admin for personal API tokens: admins see everyone's and revoke them; nobody creates or reads a secret."""

from django.contrib import admin, messages

from annotation.api import tokens
from annotation.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # a user creates their own token, on their token page, and sees it once

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, not deleted: the row says who used which token until when

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        count = sum(tokens.revoke(token=token, by=request.user) for token in queryset)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
