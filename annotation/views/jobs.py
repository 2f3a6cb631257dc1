"""The pages' side of background jobs: one status JSON, cancel and retry, for every kind of job."""

from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from annotation import jobs, roles


def _get_job(kind: str, pk: int):
    model = jobs.JOB_MODELS.get(kind)
    if model is None:
        raise Http404("No such kind of job.")
    return get_object_or_404(model.objects.defer("data") if kind == "import" else model, pk=pk)


def _back(request, fallback: str):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect(fallback)


@roles.role_required(roles.ADMIN)
def job_status(request, kind: str, pk: int):
    return JsonResponse({"jobs": [jobs.status(_get_job(kind, pk))]})


@roles.role_required(roles.ADMIN)
@require_POST
def job_cancel(request, kind: str, pk: int):
    job = _get_job(kind, pk)
    jobs.request_cancel(job)
    messages.info(request, f"Asked “{job.name}” to stop; a running job stops after its current step.")
    return _back(request, "run-list")


@roles.role_required(roles.ADMIN)
@require_POST
def job_retry(request, kind: str, pk: int):
    job = _get_job(kind, pk)
    if jobs.retry(job):
        messages.success(request, f"“{job.name}” is queued again.")
    else:
        messages.error(
            request,
            f"“{job.name}” cannot be queued again now: only a failed or cancelled job can be, a rejected "
            "import never (fix the file instead), and a training run not while another run on its base "
            "model is active.",
        )
    return _back(request, "run-list")
