from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotation.views import health, home
from annotation.views import tokens as token_views

admin.site.site_header = "PsychoSafe Studio administration"
admin.site.site_title = "PsychoSafe Studio"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("favicon.ico", home.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(template_name="registration/password_change.html"),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_changed.html"),
        name="password_change_done",
    ),
    path("accounts/tokens/", token_views.token_list, name="api-tokens"),
    path("accounts/tokens/<int:pk>/revoke/", token_views.token_revoke, name="api-token-revoke"),
    path("admin/", admin.site.urls),
    path("api/docs/", token_views.api_docs, name="api-docs"),
    path("api/v1/", include("annotation.api.urls")),
    path("", include("annotation.urls")),
]
