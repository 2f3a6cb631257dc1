"""The user's own API tokens (create: the secret is shown once; revoke) and the API reference page."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotation.api import tokens
from annotation.models import ApiToken


def token_list(request):
    """Every logged-in user manages their own tokens; the new secret is on this response only."""
    secret = error = None
    name = ""
    if request.method == "POST":
        name = request.POST.get("name", "")[:100]
        try:
            token, secret = tokens.create_token(user=request.user, name=name)
        except tokens.TokenError as problem:
            error = str(problem)
        else:
            name = ""
            messages.success(request, f"Token “{token.name}” created. Copy it now: it is not shown again.")
    context = {
        "tokens": ApiToken.objects.filter(user=request.user),
        "secret": secret,
        "error": error,
        "name": name,
    }
    response = render(request, "annotation/tokens.html", context, status=400 if error else 200)
    response["Cache-Control"] = "no-store"  # the page may carry a secret
    return response


@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if tokens.revoke(token=token, by=request.user):
        messages.success(request, f"Token “{token.name}” is revoked; requests with it now get 401.")
    return redirect("api-tokens")


def api_docs(request):
    """The browsable reference of /api/v1/schema/ (Swagger UI from the installed package, no CDN)."""
    return render(request, "annotation/api_docs.html")
