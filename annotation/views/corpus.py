"""The corpus browser: search, filters, keyset pages, and export of what is shown."""

from django.db.models import Prefetch
from django.shortcuts import render

from annotation import corpus, exporting, roles
from annotation.forms import CorpusFilterForm, ExportForm
from annotation.models import InterventionStrategy

CORPUS_ROLES = (roles.AUTHOR, roles.REVIEWER, roles.ADMIN)


def _cursor(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


@roles.role_required(*CORPUS_ROLES)
def corpus_browser(request):
    form = CorpusFilterForm(request.GET or None)
    filters = corpus.PairFilter.from_data(form.cleaned_data if form.is_valid() else {})
    queryset = corpus.pairs(filters=filters).prefetch_related(
        Prefetch("strategies", queryset=InterventionStrategy.objects.only("pk", "name", "key")))
    result = corpus.page(queryset=queryset, after=_cursor(request.GET.get("after")),
                         before=_cursor(request.GET.get("before")))
    for row in result.rows:
        row.author_name = exporting.author_of(row)  # an imported file's author name, or the account
    return render(request, "annotation/pairs/corpus.html", {
        "form": form, "page": result, "filters": filters, "query": filters.as_query(),
        "export_form": ExportForm(), "is_filtered": bool(filters.as_query()),
    })
