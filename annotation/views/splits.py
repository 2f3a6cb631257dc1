"""The splits page: see the splits and their leakage report, preview and (re)build them, freeze
them, and put pairs approved while frozen into train."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotation import roles, splits
from annotation.forms.splits import SplitBuildForm
from annotation.models import Prompt, RiskDomain, SplitBuild

FINDINGS_SHOWN = 100


@roles.role_required(roles.ADMIN)
def split_page(request):
    build = splits.current_build()
    form = SplitBuildForm(
        request.POST or None,
        initial={"seed": build.seed, "benign_per_domain": build.benign_per_domain} if build else None,
        initial_sizes=build.sizes if build else None,
    )
    preview = None
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        else:
            options = {
                "seed": form.cleaned_data["seed"],
                "per_domain": form.sizes(),
                "benign_per_domain": form.cleaned_data["benign_per_domain"],
            }
            if "build" in request.POST:
                try:
                    report = splits.make_splits(**options, user=request.user)
                except splits.SplitsFrozen as error:
                    form.add_error(None, str(error))
                    status = 409
                else:
                    messages.success(
                        request,
                        f"Splits rebuilt with seed {report.seed}: {report.moved} prompt(s) changed split, "
                        f"{len(report.findings)} leakage finding(s).",
                    )
                    return redirect("splits")
            else:
                preview = splits.make_splits(**options, dry_run=True)
    return render(request, "annotation/splits/page.html", _context(form, build, preview), status=status)


def _context(form, build, preview) -> dict:
    current = splits.current_split_report()
    domains = list(RiskDomain.objects.order_by("priority", "slug"))
    rows = []
    for domain in domains:
        counts = current["counts"].get(domain.slug, {"train": 0, "validation": 0, "test": 0})
        benign = current["benign"].get(domain.slug, {"train": 0, "validation": 0, "test": 0})
        rows.append(
            {
                "domain": domain,
                "counts": counts,
                "benign": benign,
                "waiting": current["waiting"].get(domain.slug, 0),
                "preview": preview.counts.get(domain.slug) if preview else None,
            }
        )
    shown = (preview.findings if preview else current["findings"])[:FINDINGS_SHOWN]
    texts = dict(
        Prompt.objects.filter(
            pk__in={f.prompt_id for f in shown} | {f.other_prompt_id for f in shown if f.other_prompt_id}
        ).values_list("pk", "text")
    )
    return {
        "form": form,
        "build": build,
        "builds": SplitBuild.objects.select_related("created_by")[:10],
        "rows": rows,
        "waiting": sum(current["waiting"].values()),
        "findings": [
            {"finding": f, "text": texts.get(f.prompt_id, ""), "other": texts.get(f.other_prompt_id, "")} for f in shown
        ],
        "findings_total": len(preview.findings if preview else current["findings"]),
        "preview": preview,
    }


@roles.role_required(roles.ADMIN)
@require_POST
def split_freeze(request):
    frozen = request.POST.get("frozen") == "1"
    try:
        splits.set_frozen(frozen=frozen, user=request.user)
    except splits.NoSplitsYet as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            "Splits frozen: nothing moves between splits, and newly approved pairs wait without a split."
            if frozen
            else "Splits unfrozen: newly approved pairs go to train.",
        )
    return redirect("splits")


@roles.role_required(roles.ADMIN)
@require_POST
def split_add_waiting(request):
    try:
        added = splits.add_waiting_to_train(user=request.user)
    except splits.SplitsFrozen as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{added} waiting prompt(s) added to train.")
    return redirect("splits")
