"""Django admin for adapters, model conditions, and training and generation runs."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from annotation import models


@admin.register(models.Adapter)
class AdapterAdmin(SimpleHistoryAdmin):
    list_display = ["name", "base_model", "sha256", "created_at"]
    readonly_fields = ["sha256", "manifest", "path"]


@admin.register(models.ModelCondition)
class ModelConditionAdmin(SimpleHistoryAdmin):
    list_display = ["name", "base_model", "system_prompt", "adapter"]


@admin.register(models.TrainingRun)
class TrainingRunAdmin(SimpleHistoryAdmin):
    list_display = ["name", "state", "percent", "created_by", "created_at", "finished_at"]
    list_filter = ["state"]
    readonly_fields = ["adapter", "data_hash", "metrics", "worker", "attempts", "error", "heartbeat_at"]


@admin.register(models.GenerationRun)
class GenerationRunAdmin(SimpleHistoryAdmin):
    list_display = ["name", "state", "percent", "backend", "created_at", "finished_at"]
    list_filter = ["state", "backend"]
    filter_horizontal = ["conditions"]
