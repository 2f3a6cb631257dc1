"""The flag queue: what raters flagged, with the prompt and the response, and the admin's actions."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation import flags, roles
from annotation.models import Flag


@roles.role_required(roles.ADMIN)
def flag_queue(request):
    return render(
        request,
        "annotation/flags/queue.html",
        {"open_flags": flags.open_flags(), "closed": flags.recently_closed()},
    )


@roles.role_required(roles.ADMIN)
@require_POST
def flag_action(request, flag_id):
    flag = get_object_or_404(Flag.objects.select_related("item__response"), pk=flag_id)
    action = flags.ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, "Unknown action.")
        return redirect("flag-queue")
    try:
        closed = action(flag=flag, user=request.user, note=request.POST.get("note", ""))
    except flags.FlagError as error:
        messages.error(request, f"Flag {flag.pk}: {error}")
    else:
        flag.refresh_from_db()
        extra = f" ({closed - 1} other flag(s) on the same item closed too)" if closed > 1 else ""
        messages.success(request, f"Flag {flag.pk}: {flag.get_resolution_display().lower()}{extra}.")
    return redirect("flag-queue")
