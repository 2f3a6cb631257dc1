"""Users and groups (roles) are audited too: who changed an account, its roles or permissions.

The history leaves out the password hash (old hashes are secrets, kept nowhere) and the last
login time (a login is not a change to the account; django-axes logs logins).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from simple_history import register

from annotation.models.audit import AuditedRecords

register(
    get_user_model(),
    app="annotation",
    records_class=AuditedRecords,
    m2m_fields=["groups", "user_permissions"],
    excluded_fields=["password", "last_login"],
)
register(Group, app="annotation", records_class=AuditedRecords, m2m_fields=["permissions"])
