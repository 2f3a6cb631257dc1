"""Django admin for rubrics (criteria as inline data), rounds, gold items and rating records."""

from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from annotation import rubrics
from annotation.models import Criterion, Flag, GoldItem, RaterPreference, Rating, Round, RoundRater, Rubric, Skip


class CriterionInline(admin.StackedInline):
    model = Criterion
    extra = 0
    fields = ["position", "key", "label", "question", "kind", "scale_points", "required", "options"]


@admin.register(Rubric)
class RubricAdmin(SimpleHistoryAdmin):
    list_display = ["name", "key", "version", "created_at"]
    inlines = [CriterionInline]
    actions = ["make_new_version"]
    readonly_fields = ["created_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # A version that has been rated with, or whose round is open, is frozen: edit by creating the next version.
        if obj is not None and rubrics.freeze_reason(rubric=obj):
            return ["key", "version", "name", "description", "created_by", "created_at"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return obj is None or not rubrics.freeze_reason(rubric=obj)

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        if obj is not None and rubrics.freeze_reason(rubric=obj):
            for inline in inlines:
                inline.has_add_permission = lambda *a, **k: False
                inline.has_change_permission = lambda *a, **k: False
                inline.has_delete_permission = lambda *a, **k: False
        return inlines

    def save_model(self, request, obj, form, change):
        if not obj.created_by_id:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Copy into a new version (to edit)")
    def make_new_version(self, request, queryset):
        for rubric in queryset:
            copy = rubrics.new_version(rubric=rubric, created_by=request.user)
            self.message_user(request, f"Created {copy}.", messages.SUCCESS)


class RoundRaterInline(admin.TabularInline):
    model = RoundRater
    extra = 0
    fields = ["rater", "pseudonym", "served", "warned_at"]
    readonly_fields = ["served", "warned_at"]
    raw_id_fields = ["rater"]


@admin.register(Round)
class RoundAdmin(SimpleHistoryAdmin):
    list_display = ["name", "rater_title", "kind", "rubric", "k", "state", "created_at"]
    list_filter = ["state", "kind"]
    readonly_fields = ["public_id", "opened_at", "closed_at", "created_by", "created_at"]
    inlines = [RoundRaterInline]


@admin.register(GoldItem)
class GoldItemAdmin(SimpleHistoryAdmin):
    list_display = ["response", "rubric", "created_at"]
    list_filter = ["rubric"]
    raw_id_fields = ["response"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if not obj.created_by_id:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Rating)
class RatingAdmin(SimpleHistoryAdmin):
    """Ratings are evidence: visible, never edited here."""

    list_display = ["round", "item", "rater", "rubric", "display_position", "seconds_on_item", "submitted_at"]
    list_filter = ["round"]
    list_select_related = ["round", "item", "rater", "rubric"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Skip)
class SkipAdmin(admin.ModelAdmin):
    list_display = ["round", "item", "rater", "reason", "created_at"]
    list_filter = ["round", "reason"]


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["round", "item", "rater", "kind", "note", "created_at"]
    list_filter = ["round", "kind"]


@admin.register(RaterPreference)
class RaterPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "break_after_minutes"]
    filter_horizontal = ["opted_out_domains"]
