"""The corpus browser: search, filters, keyset pages, and export of what is shown."""

from django.db.models import Prefetch
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from annotation import corpus, roles
from annotation.forms.corpus import CorpusFilterForm
from annotation.forms.transfer import ExportForm
from annotation.models import InterventionStrategy, Prompt, Response

CORPUS_ROLES = (roles.AUTHOR, roles.REVIEWER, roles.ADMIN)


def _cursor(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


def _decorate(queryset):
    return corpus.list_rows(queryset).prefetch_related(
        Prefetch("strategies", queryset=InterventionStrategy.objects.only("pk", "name"), to_attr="strategy_list")
    )


def _cut(text: str, limit: int) -> str:
    return text[:limit] + "…" if len(text) > limit else text


def _rows_html(rows) -> str:
    """The table body, built with format_html (which escapes every value).

    A hot page: the template language resolves each {{ }} through several lookups, and for 50
    rows that cost more than the database (measured by bench/bench_corpus.py).
    """
    detail_base = reverse("pair-detail", args=[0]).removesuffix("0/")
    status_labels = dict(Response.Status.choices)
    split_labels = dict(Prompt.Split.choices)
    return format_html_join(
        "\n",
        ROW_HTML,
        (
            (
                detail_base,
                row.pk,
                _cut(row.prompt_preview, corpus.PROMPT_PREVIEW),
                _cut(row.answer_preview, corpus.ANSWER_PREVIEW),
                row.prompt.domain.name,
                "" if row.prompt.should_refuse else BENIGN,
                row.status,
                status_labels.get(row.status, row.status),
                split_labels.get(row.prompt.split, row.prompt.split),
                (
                    row.imported_author
                    if row.imported_author is not None
                    else (row.created_by.username if row.created_by else "")
                )
                or "—",
                ", ".join(s.name for s in row.strategy_list),
            )
            for row in rows
        ),
    )


ROW_HTML = (
    '<tr><td class="text"><a href="{}{}/">{}</a></td><td class="text muted small">{}</td><td>{}{}</td>'
    '<td><span class="badge status-{}">{}</span></td><td>{}</td><td>{}</td><td class="small">{}</td></tr>'
)
BENIGN = mark_safe('<br><span class="badge">benign control</span>')


@roles.role_required(*CORPUS_ROLES)
def corpus_browser(request):
    form = CorpusFilterForm(request.GET or None)
    filters = form.valid_filters()
    result = corpus.page(
        queryset=corpus.pairs(filters=filters),
        after=_cursor(request.GET.get("after")),
        before=_cursor(request.GET.get("before")),
        decorate=_decorate,
    )
    return render(
        request,
        "annotation/pairs/corpus.html",
        {
            "form": form,
            "left_out": form.left_out(),
            "page": result,
            "filters": filters,
            "query": filters.as_query(),
            "export_form": ExportForm(),
            "is_filtered": bool(filters.as_query()),
            "rows_html": _rows_html(result.rows),
            # A comprehension, not list(): list() asks a ModelChoiceIterator for len(), a COUNT query.
            "choices": {
                name: [choice for choice in form.fields[name].choices]
                for name in ("domain", "status", "source", "split", "strategy")
            },
        },
    )
