"""Django admin for the corpus: prompts (with their responses inline), responses and reviews."""

from django.contrib import admin, messages
from django.utils.html import format_html_join
from simple_history.admin import SimpleHistoryAdmin

from annotation import models


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
    # A prompt in use cannot change its content here (the form says so); the pair's edit page makes
    # its next version, so the version chain is never typed by hand.
    readonly_fields = ["version", "previous_version"]
    inlines = [ResponseInline]
    actions = ["make_splits_default", "make_splits_with_selected_as_few_shot"]

    def _make_splits(self, request, few_shot_ids):
        from annotation import splits

        try:
            report = splits.make_splits(seed=42, per_domain=100, few_shot_ids=few_shot_ids, user=request.user)
        except splits.SplitsFrozen as error:
            self.message_user(request, str(error), messages.ERROR)
            return
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
