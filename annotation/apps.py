from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AnnotationConfig(AppConfig):
    name = "annotation"
    verbose_name = "PsychoSafe Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from annotation.roles import ensure_role_groups

        post_migrate.connect(ensure_role_groups, sender=self, dispatch_uid="annotation.ensure_role_groups")
