"""/api/v1/: every route of the JSON API, the OpenAPI schema, and a JSON 404 for anything else."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularJSONAPIView

from annotation.api.base import StudioView
from annotation.api.problems import problem
from annotation.api.views import pairs, rating, rounds, runs, splits, transfer


class Schema(SpectacularAPIView, StudioView):
    """The OpenAPI 3.1 document: YAML, or JSON when asked with Accept: application/vnd.oai.openapi+json."""

    roles = ()


class JsonSchema(SpectacularJSONAPIView, StudioView):
    """The same document as JSON."""

    roles = ()


class NoSuchRoute(StudioView):
    roles = ()
    schema = None  # not in the OpenAPI document

    def _missing(self, request, *args, **kwargs):
        return problem(404, "No such API route. The reference is at /api/docs/.")

    get = post = put = patch = delete = _missing


app_name = "api"
urlpatterns = [
    path("schema/", Schema.as_view(), name="schema"),
    path("schema.json", JsonSchema.as_view(), name="schema-json"),
    path("pairs/", pairs.PairList.as_view(), name="pairs"),
    path("pairs/export/", transfer.PairExport.as_view(), name="pairs-export"),
    path("pairs/<int:pk>/", pairs.PairDetail.as_view(), name="pair"),
    path("pairs/<int:pk>/submit/", pairs.PairSubmit.as_view(), name="pair-submit"),
    path("pairs/<int:pk>/withdraw/", pairs.PairWithdraw.as_view(), name="pair-withdraw"),
    path("pairs/<int:pk>/review/", pairs.PairReview.as_view(), name="pair-review"),
    path("review-queue/", pairs.ReviewQueue.as_view(), name="review-queue"),
    path("imports/", transfer.ImportList.as_view(), name="imports"),
    path("imports/<int:pk>/", transfer.ImportDetail.as_view(), name="import"),
    path("splits/", splits.Splits.as_view(), name="splits"),
    path("conditions/", runs.ConditionList.as_view(), name="conditions"),
    path("conditions/<int:pk>/", runs.ConditionDetail.as_view(), name="condition"),
    path("adapters/", runs.AdapterList.as_view(), name="adapters"),
    path("adapters/<int:pk>/", runs.AdapterDetail.as_view(), name="adapter"),
    path("training-runs/", runs.TrainingRuns.as_view(), name="training-runs"),
    path("generation-runs/", runs.GenerationRuns.as_view(), name="generation-runs"),
    path("judge-runs/", runs.JudgeRuns.as_view(), name="judge-runs"),
    path("jobs/<str:kind>/<int:pk>/", runs.JobDetail.as_view(), name="job"),
    path("jobs/<str:kind>/<int:pk>/cancel/", runs.JobCancel.as_view(), name="job-cancel"),
    path("jobs/<str:kind>/<int:pk>/retry/", runs.JobRetry.as_view(), name="job-retry"),
    path("cycles/", runs.Cycles.as_view(), name="cycles"),
    path("cycles/<int:pk>/", runs.CycleDetail.as_view(), name="cycle"),
    path("cycles/<int:pk>/cancel/", runs.CycleCancel.as_view(), name="cycle-cancel"),
    path("cycles/<int:pk>/resume/", runs.CycleResume.as_view(), name="cycle-resume"),
    path("rubrics/", rounds.Rubrics.as_view(), name="rubrics"),
    path("rubrics/<int:pk>/", rounds.RubricDetail.as_view(), name="rubric"),
    path("rounds/", rounds.Rounds.as_view(), name="rounds"),
    path("rounds/<int:pk>/", rounds.RoundDetail.as_view(), name="round"),
    path("rounds/<int:pk>/state/", rounds.RoundState.as_view(), name="round-state"),
    path("rounds/<int:pk>/responses/", rounds.RoundResponses.as_view(), name="round-responses"),
    path("rounds/<int:pk>/raters/", rounds.RoundRaters.as_view(), name="round-raters"),
    path("rounds/<int:pk>/tidy/", rounds.RoundTidy.as_view(), name="round-tidy"),
    path("rounds/<int:pk>/results/", rounds.RoundResults.as_view(), name="round-results"),
    path("rating/<str:round_token>/", rating.RaterRound.as_view(), name="rating-round"),
    path("rating/<str:round_token>/acknowledge/", rating.Acknowledge.as_view(), name="rating-acknowledge"),
    path("rating/<str:round_token>/next/", rating.NextItem.as_view(), name="rating-next"),
    path("rating/<str:round_token>/submit/", rating.Submit.as_view(), name="rating-submit"),
    path("rating/<str:round_token>/skip/", rating.SkipItem.as_view(), name="rating-skip"),
    path("rating/<str:round_token>/flag/", rating.FlagItem.as_view(), name="rating-flag"),
    re_path(r"^.*$", NoSuchRoute.as_view(), name="no-such-route"),
]
