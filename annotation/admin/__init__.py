"""Django admin by concept. Importing the modules registers their ModelAdmins (admin autodiscover
imports this package)."""

from annotation.admin import accounts, catalog, corpus, judging, modelruns, rating, tokens  # noqa: F401
