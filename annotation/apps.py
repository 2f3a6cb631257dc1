from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "PsychoSafe Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from annotation.roles import ensure_role_groups

        post_migrate.connect(ensure_role_groups, sender=self, dispatch_uid="annotation.ensure_role_groups")
        from annotation.corpus import restore_sqlite_fts

        post_migrate.connect(restore_sqlite_fts, sender=self, dispatch_uid="annotation.restore_sqlite_fts")
        # Session limits count from the login (psychosafe_site/sessions.py); Django offers no other
        # hook that every way of logging in passes through.
        from psychosafe_site.sessions import record_login

        user_logged_in.connect(record_login, dispatch_uid="psychosafe_site.sessions.record_login")
