"""Precomputed results figures of a round (see annotation.figures)."""

from django.db import models


class RoundFigures(models.Model):
    """A round's results figures, computed once per data version and filters (`annotation.figures`).

    `payload` holds the computed numbers (annotation.reporting.RoundResults without its tidy
    table), pickled by the Studio itself; `data_version` says which ratings and verdicts they
    include. One row per round and filters: a newer computation replaces the older one.
    """

    round = models.ForeignKey("annotation.Round", on_delete=models.CASCADE, related_name="figures")
    filters = models.CharField(max_length=64, help_text="Digest of the domain / locale / baseline filters.")
    filter_values = models.JSONField(default=dict, help_text="The filters as the page asked for them.")
    data_version = models.CharField(max_length=200)
    payload = models.BinaryField()
    ratings = models.PositiveIntegerField(default=0, help_text="Human ratings the figures include.")
    seconds = models.FloatField(default=0, help_text="How long the computation took.")
    computed_at = models.DateTimeField()
    requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When a recomputation was last queued (at most one waits at a time)."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "filters"], name="round_figures_once_per_filters")]

    def __str__(self):
        return f"figures of round {self.round_id} at {self.data_version}"
