from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save


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
        # The rating pages cache criteria and strategies; any change to them reads them again.
        from annotation import rating_sheets

        for model in rating_sheets.SOURCES:
            for signal in (post_save, post_delete):
                signal.connect(rating_sheets.invalidate, sender=model, dispatch_uid=f"rating_sheets.{model.__name__}")
        m2m_changed.connect(
            rating_sheets.invalidate,
            sender=rating_sheets.InterventionStrategy.domains.through,
            dispatch_uid="rating_sheets.strategy_domains",
        )
