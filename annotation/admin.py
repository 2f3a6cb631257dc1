from django.contrib import admin, messages
from django.db.models import Max
from django.utils.html import format_html_join
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


class ResponseInline(admin.TabularInline):
    model = models.Response
    fields = ["origin", "status", "created_by", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(models.Prompt)
class PromptAdmin(SimpleHistoryAdmin):
    list_display = ["__str__", "domain", "risk_category", "source", "locale", "should_refuse", "split"]
    list_filter = ["domain", "source", "split", "should_refuse", "locale"]
    search_fields = ["text", "risk_category", "source_ref"]
    list_select_related = ["domain"]
    raw_id_fields = ["created_by"]
    inlines = [ResponseInline]
    actions = ["make_splits_default", "make_splits_with_selected_as_few_shot"]

    def _make_splits(self, request, few_shot_ids):
        from annotation import splits

        report = splits.make_splits(seed=42, per_domain=100, few_shot_ids=few_shot_ids)
        lines = report.lines(max_findings=20)
        level = messages.WARNING if report.findings or report.shortfalls else messages.SUCCESS
        self.message_user(request, format_html_join("", "{}<br>", ((line,) for line in lines)), level)

    @admin.action(description="Make splits for the whole corpus (seed 42, 100 + 100 per domain; selection ignored)")
    def make_splits_default(self, request, queryset):
        self._make_splits(request, [])

    @admin.action(
        description="Make splits (seed 42, 100 + 100 per domain), forcing the selected prompts into train "
        "as few-shot examples"
    )
    def make_splits_with_selected_as_few_shot(self, request, queryset):
        self._make_splits(request, list(queryset.values_list("pk", flat=True)))


@admin.register(models.Response)
class ResponseAdmin(SimpleHistoryAdmin):
    list_display = ["__str__", "origin", "status", "condition", "created_by", "created_at"]
    list_filter = ["origin", "status", "condition", "prompt__domain"]
    search_fields = ["text", "public_id"]
    list_select_related = ["prompt", "condition", "created_by"]
    raw_id_fields = ["prompt", "source_response", "created_by", "generation_run"]
    filter_horizontal = ["strategies", "resources"]
    readonly_fields = ["public_id"]


@admin.register(models.Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["response", "reviewer", "author", "decision", "created_at"]
    list_filter = ["decision"]
    raw_id_fields = ["response"]


@admin.register(models.Adapter)
class AdapterAdmin(admin.ModelAdmin):
    list_display = ["name", "base_model", "sha256", "created_at"]
    readonly_fields = ["sha256", "manifest", "path"]


@admin.register(models.ModelCondition)
class ModelConditionAdmin(SimpleHistoryAdmin):
    list_display = ["name", "base_model", "system_prompt", "adapter"]


@admin.register(models.TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["name", "state", "percent", "created_by", "created_at", "finished_at"]
    list_filter = ["state"]
    readonly_fields = ["adapter", "data_hash", "metrics", "worker", "attempts", "error", "heartbeat_at"]


@admin.register(models.GenerationRun)
class GenerationRunAdmin(admin.ModelAdmin):
    list_display = ["name", "state", "percent", "backend", "created_at", "finished_at"]
    list_filter = ["state", "backend"]
    filter_horizontal = ["conditions"]


from annotation import admin_rating  # noqa: F401,E402
