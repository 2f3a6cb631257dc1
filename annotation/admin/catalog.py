"""Django admin for the registries: risk domains, strategies, resources and versioned system prompts."""

from django.contrib import admin, messages
from django.db.models import Max
from simple_history.admin import SimpleHistoryAdmin

from annotation import models


@admin.register(models.RiskDomain)
class RiskDomainAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "data_label", "priority"]


@admin.register(models.InterventionStrategy)
class InterventionStrategyAdmin(admin.ModelAdmin):
    list_display = ["name", "key"]
    list_filter = ["domains"]
    filter_horizontal = ["domains"]


@admin.register(models.Resource)
class ResourceAdmin(SimpleHistoryAdmin):
    list_display = ["name", "locale", "channel", "phone", "text_number", "url", "verified_on", "active"]
    list_filter = ["locale", "channel", "active", "domains"]
    search_fields = ["name", "phone", "url"]
    filter_horizontal = ["domains"]


@admin.register(models.SystemPrompt)
class SystemPromptAdmin(SimpleHistoryAdmin):
    """Editing a system prompt saves the next version; the edited version stays as it was."""

    list_display = ["name", "key", "version", "created_at", "created_by"]
    list_filter = ["key"]
    readonly_fields = ["version", "created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        from annotation import systemprompts

        if change:
            # Conditions and results refer to this exact version: save the edit as a new one.
            new = systemprompts.save_new_version(key=obj.key, name=obj.name, text=obj.text, user=request.user)
            obj.pk, obj.version, obj.created_by, obj.created_at = new.pk, new.version, new.created_by, new.created_at
            obj._state.adding = False
            messages.info(request, f"Saved as version {new.version} of “{obj.key}”; earlier versions are unchanged.")
            return
        obj.version = (models.SystemPrompt.objects.filter(key=obj.key).aggregate(v=Max("version"))["v"] or 0) + 1
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
