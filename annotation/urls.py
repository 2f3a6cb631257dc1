from django.urls import path

from annotation.views import audit as audit_views
from annotation.views import authoring as authoring_views
from annotation.views import benchmarks as benchmark_views
from annotation.views import corpus as corpus_views
from annotation.views import flags as flag_views
from annotation.views import home
from annotation.views import inbox as inbox_views
from annotation.views import jobs as job_views
from annotation.views import judges as judge_views
from annotation.views import pipelines as pipeline_views
from annotation.views import rating as rating_views
from annotation.views import results as result_views
from annotation.views import review as review_views
from annotation.views import rounds as round_views
from annotation.views import rubrics as rubric_views
from annotation.views import runs as run_views
from annotation.views import splits as split_views
from annotation.views import transfer as transfer_views

urlpatterns = [
    path("", home.home, name="home"),
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/unread.json", inbox_views.unread, name="inbox-unread"),
    path("inbox/read/", inbox_views.mark_read, name="inbox-read"),
    path("inbox/settings/", inbox_views.notification_settings, name="notification-settings"),
    path("inbox/<int:pk>/", inbox_views.open_notification, name="inbox-open"),
    path("pairs/new/", authoring_views.pair_new, name="pair-new"),
    path("pairs/checks/", authoring_views.pair_checks, name="pair-checks"),
    path("pairs/<int:pk>/", authoring_views.pair_detail, name="pair-detail"),
    path("pairs/<int:pk>/edit/", authoring_views.pair_edit, name="pair-edit"),
    path("pairs/<int:pk>/submit/", authoring_views.pair_submit, name="pair-submit"),
    path("review/", review_views.review_queue, name="review-queue"),
    path("review/<int:pk>/", review_views.review_pair, name="review-pair"),
    path("corpus/", corpus_views.corpus_browser, name="corpus"),
    path("corpus/export/", transfer_views.corpus_export, name="corpus-export"),
    path("corpus/import/", transfer_views.import_page, name="import-pairs"),
    path("corpus/import/<int:pk>/", transfer_views.import_job, name="import-job"),
    path("rate/preferences/", rating_views.preferences, name="rating-preferences"),
    path("rate/<str:round_token>/", rating_views.work, name="rating-work"),
    path("rate/<str:round_token>/start/", rating_views.acknowledge_warning, name="rating-warning"),
    path("rate/<str:round_token>/resume/", rating_views.resume_after_break, name="rating-break"),
    path("rate/<str:round_token>/submit/", rating_views.submit, name="rating-submit"),
    path("rate/<str:round_token>/skip/", rating_views.skip, name="rating-skip"),
    path("rate/<str:round_token>/flag/", rating_views.flag, name="rating-flag"),
    path("rate/<str:round_token>/recent/", rating_views.recent, name="rating-recent"),
    path("rate/<str:round_token>/back/", rating_views.back, name="rating-back"),
    path("rate/<str:round_token>/rated/<str:item_token>/", rating_views.edit, name="rating-edit"),
    path("rounds/", round_views.round_list, name="round-list"),
    path("rounds/new/", round_views.round_new, name="round-new"),
    path("rounds/<int:round_id>/", round_views.dashboard, name="round-dashboard"),
    path("rounds/<int:round_id>/state/", round_views.change_state, name="round-state"),
    path("rounds/<int:round_id>/add/", round_views.add_responses, name="round-add"),
    path("rounds/<int:round_id>/raters/", round_views.change_raters, name="round-raters"),
    path("rounds/<int:round_id>/export.<str:fmt>", round_views.export, name="round-export"),
    path("rounds/<int:round_id>/tidy.<str:fmt>", round_views.tidy, name="round-tidy"),
    path("rounds/<int:round_id>/results/", result_views.round_results, name="round-results"),
    path("rounds/<int:round_id>/results/<str:plot>.svg", result_views.round_results_plot, name="round-results-plot"),
    path("rounds/<int:round_id>/report/", result_views.round_report, name="round-report"),
    path("results/", result_views.results_overview, name="results-overview"),
    path("results/trend.svg", result_views.results_trend_svg, name="results-trend"),
    path("rubrics/", rubric_views.rubric_list, name="rubric-list"),
    path("rubrics/new/", rubric_views.rubric_new, name="rubric-new"),
    path("rubrics/<int:rubric_id>/", rubric_views.rubric_detail, name="rubric-detail"),
    path("rubrics/<int:rubric_id>/edit/", rubric_views.rubric_edit, name="rubric-edit"),
    path("rubrics/<int:rubric_id>/new-version/", rubric_views.rubric_new_version, name="rubric-new-version"),
    path("runs/", run_views.run_list, name="run-list"),
    path("runs/training/new/", run_views.training_new, name="training-new"),
    path("runs/generation/new/", run_views.generation_new, name="generation-new"),
    path("runs/training/<int:pk>/loss.svg", run_views.training_loss_svg, name="training-loss"),
    path("judges/", judge_views.judge_list, name="judge-list"),
    path("judges/new/", judge_views.judge_new, name="judge-new"),
    path("judges/<int:pk>/edit/", judge_views.judge_edit, name="judge-edit"),
    path("judges/<int:pk>/new-version/", judge_views.judge_new_version, name="judge-new-version"),
    path("judges/runs/new/", judge_views.judge_run_new, name="judge-run-new"),
    path("judges/runs/<int:pk>/", judge_views.judge_run_detail, name="judge-run-detail"),
    path("runs/retrain/", pipeline_views.retrain_new, name="retrain"),
    path("runs/cycles/<int:pk>/", pipeline_views.pipeline_detail, name="pipeline-detail"),
    path("runs/cycles/<int:pk>/status.json", pipeline_views.pipeline_status, name="pipeline-status"),
    path("runs/cycles/<int:pk>/loss.svg", pipeline_views.pipeline_loss_svg, name="pipeline-loss"),
    path("runs/cycles/<int:pk>/cancel/", pipeline_views.pipeline_cancel, name="pipeline-cancel"),
    path("runs/cycles/<int:pk>/resume/", pipeline_views.pipeline_resume, name="pipeline-resume"),
    path("conditions/<int:pk>/", pipeline_views.condition_detail, name="condition-detail"),
    path("audit/", audit_views.audit_trail, name="audit-trail"),
    path("jobs/<str:kind>/<int:pk>/status.json", job_views.job_status, name="job-status"),
    path("jobs/<str:kind>/<int:pk>/cancel/", job_views.job_cancel, name="job-cancel"),
    path("jobs/<str:kind>/<int:pk>/retry/", job_views.job_retry, name="job-retry"),
    path("benchmarks/", benchmark_views.benchmark_list, name="benchmark-list"),
    path("benchmarks/new/", benchmark_views.benchmark_new, name="benchmark-new"),
    path("benchmarks/<int:pk>/", benchmark_views.benchmark_detail, name="benchmark-detail"),
    path("benchmarks/<int:pk>/audit/", benchmark_views.benchmark_audit, name="benchmark-audit"),
    path("benchmarks/<int:pk>/report/", benchmark_views.benchmark_report, name="benchmark-report"),
    path("splits/", split_views.split_page, name="splits"),
    path("splits/freeze/", split_views.split_freeze, name="split-freeze"),
    path("splits/waiting/", split_views.split_add_waiting, name="split-waiting"),
    path("rounds/<int:round_id>/delete/", round_views.delete_round, name="round-delete"),
    path("flags/", flag_views.flag_queue, name="flag-queue"),
    path("flags/<int:flag_id>/", flag_views.flag_action, name="flag-action"),
]
