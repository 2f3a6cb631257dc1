"""Everyone's inbox: notices about pairs, rounds and runs; mark them read; choose what is e-mailed."""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from annotation import notifications
from annotation.forms.notifications import NotificationSettingsForm
from annotation.models import Notification, NotificationPreference

INBOX_PAGE = 100


def inbox(request):
    rows = Notification.objects.filter(recipient=request.user)
    return render(
        request,
        "annotation/inbox/list.html",
        {"notifications": rows[:INBOX_PAGE], "total": rows.count(), "unread": notifications.unread_count(request.user)},
    )


@require_GET
def unread(request):
    """The nav badge's count (inbox.js asks on each page and once a minute)."""
    return JsonResponse({"unread": notifications.unread_count(request.user)})


@require_POST
def open_notification(request, pk):
    """Mark one notice read and go where it points (a path inside the studio only). A POST: a link
    prefetcher or crawler must not mark anything read."""
    notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
    notifications.mark_read(user=request.user, notification_ids=[notification.pk])
    target = notification.url
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts=set()):
        target = "inbox"
    return redirect(target)


@require_POST
def mark_read(request):
    """Mark all notices read, or the one named by `notification`."""
    one = request.POST.get("notification", "")
    count = notifications.mark_read(user=request.user, notification_ids=[int(one)] if one.isdigit() else None)
    messages.success(request, f"Marked {count} notice{'s' if count != 1 else ''} as read.")
    return redirect("inbox")


def notification_settings(request):
    preference = NotificationPreference.objects.filter(user=request.user).first()
    initial = {"email": request.user.email, "email_kinds": preference.email_kinds if preference else []}
    form = NotificationSettingsForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        request.user.email = form.cleaned_data["email"]
        request.user.save(update_fields=["email"])
        notifications.set_email_kinds(user=request.user, kinds=form.cleaned_data["email_kinds"])
        messages.success(request, "Your notification settings are saved.")
        return redirect("notification-settings")
    return render(request, "annotation/inbox/settings.html", {"form": form})
