from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotation.views import health, home

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
    path("admin/", admin.site.urls),
    path("", include("annotation.urls")),
]
