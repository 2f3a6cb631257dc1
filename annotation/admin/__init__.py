"""Django admin by concept. Importing the modules registers their ModelAdmins (admin autodiscover
imports this package)."""

from annotation.admin import catalog, corpus, judging, modelruns, rating  # noqa: F401
