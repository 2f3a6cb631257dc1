from django.urls import path

from annotation.views import authoring as authoring_views
from annotation.views import home
from annotation.views import review as review_views

urlpatterns = [
    path("", home.home, name="home"),
    path("pairs/new/", authoring_views.pair_new, name="pair-new"),
    path("pairs/checks/", authoring_views.pair_checks, name="pair-checks"),
    path("pairs/<int:pk>/", authoring_views.pair_detail, name="pair-detail"),
    path("pairs/<int:pk>/edit/", authoring_views.pair_edit, name="pair-edit"),
    path("pairs/<int:pk>/submit/", authoring_views.pair_submit, name="pair-submit"),
    path("review/", review_views.review_queue, name="review-queue"),
    path("review/<int:pk>/", review_views.review_pair, name="review-pair"),
]
