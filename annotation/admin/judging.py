"""Django admin for judges (their verdict count; settings read-only once frozen) and verdicts (read-only)."""

from django.contrib import admin
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin

from annotation import judging
from annotation.models import Judge, Verdict


@admin.register(Judge)
class JudgeAdmin(SimpleHistoryAdmin):
    list_display = ["__str__", "kind", "model", "rubric", "temperature", "verdict_count", "created_at"]
    list_filter = ["kind"]
    list_select_related = ["rubric"]
    search_fields = ["name", "model"]
    readonly_fields = ["verdict_count", "created_by", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_verdicts=Count("verdicts"))

    @admin.display(description="verdicts", ordering="n_verdicts")
    def verdict_count(self, judge):
        return judge.n_verdicts

    def get_readonly_fields(self, request, obj=None):
        # A judge with verdicts is frozen: its settings change only by registering its next version.
        if obj is not None and obj.n_verdicts:
            return [*self.readonly_fields, "name", "version", *(f.removesuffix("_id") for f in Judge.FROZEN_FIELDS)]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not obj.created_by_id:
            obj.created_by = request.user
        judging.save_judge(obj)


@admin.register(Verdict)
class VerdictAdmin(admin.ModelAdmin):
    list_display = ["response", "judge", "rubric", "status", "kind", "attempts", "run", "created_at"]
    list_filter = ["status", "kind", "judge"]
    list_select_related = ["response", "judge", "rubric", "run"]
    search_fields = ["response__public_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
