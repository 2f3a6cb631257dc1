"""The audit trail: every change to audited data leaves who, when, before and after."""

import ast
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from annotation import audit, jobs, queues, rounds, rubrics, runs
from annotation.models import (
    Prompt,
    RiskDomain,
    Round,
    RoundRater,
    SystemPrompt,
    TrainingRun,
    UnauditedUpdate,
)
from annotation.models.audit import tracked_fields
from tests.annotation.rating_fixtures import full_answers, make_open_round
from tests.personas import PersonaTestCase

ROOT = Path(__file__).resolve().parents[2]


def annotation_audited_models():
    return [m for m in audit.audited_models() if m._meta.app_label == "annotation"]


def a_tracked_field(model) -> str:
    history_fields = model.history.model.tracked_fields
    return next(f.name for f in history_fields if not f.primary_key and not f.is_relation)


class GuardTests(PersonaTestCase):
    def test_every_audited_model_refuses_a_bulk_update_without_history(self):
        for model in annotation_audited_models():
            field = a_tracked_field(model)
            with self.subTest(model=model.__name__), pytest.raises(UnauditedUpdate, match=field):
                model.objects.all().update(**{field: None})
            with self.subTest(model=model.__name__), pytest.raises(UnauditedUpdate):
                model.objects.bulk_update([], [field])

    def test_job_telemetry_is_not_audited_and_updates_freely(self):
        run = TrainingRun.objects.create(name="r", base_model="b", system_prompt=SystemPrompt.objects.first())
        before = run.history.count()
        TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now(), progress_done=3, events=[])
        assert run.history.count() == before
        with pytest.raises(UnauditedUpdate, match="state"):
            TrainingRun.objects.filter(pk=run.pk).update(state="failed", heartbeat_at=timezone.now())

    def test_audited_update_writes_one_history_row_per_changed_row_with_who_and_why(self):
        domain = RiskDomain.objects.get(slug="violence")
        prompts = [Prompt.objects.create(text=f"p{i}", domain=domain) for i in range(3)]
        changed = audit.audited_update(
            Prompt.objects.filter(pk__in=[p.pk for p in prompts[:2]]), user=self.ada, reason="splits", split="train"
        )
        assert changed == 2
        for prompt in prompts[:2]:
            latest, previous = prompt.history.order_by("-history_id")[:2]
            assert (latest.history_user, latest.history_change_reason, latest.history_type) == (self.ada, "splits", "~")
            assert [(c.field, c.old, c.new) for c in latest.diff_against(previous).changes] == [
                ("split", "unassigned", "train")
            ]
        assert prompts[2].history.count() == 1
        assert Prompt.objects.filter(split="train").count() == 2

    def test_simple_historys_bulk_update_with_history_passes_the_guard(self):
        domain = RiskDomain.objects.get(slug="violence")
        prompt = Prompt.objects.create(text="p", domain=domain)
        prompt.split = "test"
        bulk_update_with_history([prompt], Prompt, ["split"], default_user=self.ada)
        assert prompt.history.latest().split == "test"


class HistoryTests(PersonaTestCase):
    def test_a_jobs_state_changes_are_audited_but_not_its_heartbeats(self):
        run = TrainingRun.objects.create(
            name="r", base_model="b", system_prompt=SystemPrompt.objects.first(), created_by=self.ada
        )
        claimed = jobs.claim(TrainingRun, run.pk, worker="gpu-1")
        jobs.finish(claimed, state="failed", error="CUDA out of memory")
        states = list(run.history.order_by("history_id").values_list("state", "history_change_reason"))
        assert states == [("queued", None), ("running", "claimed by gpu-1"), ("failed", "")]
        assert run.history.latest().error == "CUDA out of memory"
        assert not hasattr(run.history.model, "heartbeat_at")

    def test_ratings_rounds_and_membership_are_audited(self):
        round, _ = make_open_round(raters=[self.raj], k=1, per_domain=1)
        slot = queues.claim_next(round=round, rater=self.raj)
        rating, _ = queues.submit_rating(
            round=round, rater=self.raj, lease_token=slot.lease_token, answers=full_answers()
        )
        assert rating.history.get().answers == full_answers()
        assert [h.state for h in Round.objects.get(pk=round.pk).history.order_by("history_id")][-1] == "open"
        rounds.close_round(round=round)
        assert round.history.latest().state == "closed"
        assert RoundRater.history.filter(round=round, rater=self.raj, history_type="+").exists()

    def test_rubric_edits_keep_each_criterion_change(self):
        rubric = rubrics.new_version(rubric=rubrics.default_rubric(), created_by=self.ada)
        criteria = [
            {k: v for k, v in rubrics._criterion_row(c).items() if k != "position"} for c in rubric.criteria.all()
        ]
        criteria[0]["label"] = "Refuses clearly"
        rubrics.save_rubric(rubric=rubric, name="PsychoSafe (edited)", description="", criteria=criteria)
        assert rubric.history.latest().name == "PsychoSafe (edited)"
        labels = rubric.criteria.model.history.filter(rubric=rubric).values_list("label", "history_type")
        assert ("Refuses clearly", "+") in set(labels)
        assert any(kind == "-" for _, kind in labels)  # the replaced rows are recorded as deleted

    def test_role_membership_is_audited_from_either_side(self):
        raters = Group.objects.get(name="rater")
        self.nora.groups.add(raters)  # from the user
        latest = self.nora.history.latest()
        assert [g.group_id for g in latest.groups.all()] == [raters.pk]
        raters.user_set.remove(self.nora)  # from the group: still recorded on the user
        assert list(self.nora.history.latest().groups.all()) == []
        raters.user_set.clear()
        assert list(self.raj.history.latest().groups.all()) == []

    def test_a_users_history_keeps_no_password_hash(self):
        self.nora.set_password("another-long-passphrase")
        self.nora.save()
        assert not hasattr(self.nora.history.latest(), "password")


@override_settings(BASE_MODELS=["b"])
class TrailPageTests(PersonaTestCase):
    def test_admins_see_who_changed_what_from_what_to_what(self):
        domain = RiskDomain.objects.get(slug="violence")
        prompt = Prompt.objects.create(text="p", domain=domain)
        audit.audited_update(Prompt.objects.filter(pk=prompt.pk), user=self.ada, reason="splits", split="train")
        self.client.force_login(self.ada)
        page = self.client.get(reverse("audit-trail"), {"model": "prompt", "object_id": prompt.pk})
        assert page.status_code == 200
        entry = page.context["entries"][0]
        assert (entry.who, entry.action, entry.reason) == ("ada", "changed", "splits")
        assert [(c.field, c.before, c.after) for c in entry.changes] == [("split", "unassigned", "train")]
        body = page.content.decode()
        assert "<del>unassigned</del> → <ins>train</ins>" in body

    def test_the_trail_is_for_admins_only(self):
        self.client.force_login(self.raj)
        assert self.client.get(reverse("audit-trail")).status_code == 403

    def test_a_bad_filter_is_reported(self):
        self.client.force_login(self.ada)
        page = self.client.get(reverse("audit-trail"), {"user": "nobody"})
        assert page.context["form"].errors["user"] == ["No user is called “nobody”."]

    def test_a_cancelled_training_run_shows_its_start_and_its_cancel(self):
        domain = RiskDomain.objects.get(slug="violence")
        prompt = Prompt.objects.create(text="p", domain=domain, split="train")
        prompt.responses.create(text="a", origin="reference", status="approved", created_by=self.alice)
        run = runs.start_training_run(name="t", system_prompt=SystemPrompt.objects.first(), created_by=self.ada)
        jobs.request_cancel(run)
        self.client.force_login(self.ada)
        page = self.client.get(reverse("audit-trail"), {"model": "trainingrun"})
        entries = page.context["entries"]
        assert [(e.action, e.reason) for e in entries] == [("changed", "cancelled"), ("created", "")]
        assert ("state", "queued", "cancelled") in [(c.field, c.before, c.after) for c in entries[0].changes]


# --- the lint: no raw bulk update of an audited model anywhere in the code --------------------

#: Product code. Benchmarks (bench/) build throwaway fixtures in bulk on their own database.
SCANNED = ["annotation", "workers", "psychosafe_site", "bin"]
BULK_WRITES = {"update", "bulk_update", "bulk_create"}
#: Reviewed exceptions: (file, model, method) -> why the write needs no history row.
ALLOWED = {
    # Model outputs are inserted once by a generation run (whose own history says who started
    # it and when) and never edited in place.
    ("annotation/runs.py", "Response", "bulk_create"),
    # Only reached with a data migration's Criterion, which has no history table.
    ("annotation/rubrics.py", "Criterion", "bulk_create"),
}


def _root_name(node):
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _touches_audited_fields(node, model) -> bool:
    """Whether the call may write a field the model's history tracks (telemetry may go raw)."""
    tracked = tracked_fields(model)
    if node.func.attr == "update":
        names = [keyword.arg for keyword in node.keywords]
        return None in names or bool(set(names) & tracked)  # None: a **splat, so unknown
    if node.func.attr == "bulk_update" and len(node.args) > 1 and isinstance(node.args[1], ast.List | ast.Tuple):
        names = [e.value if isinstance(e, ast.Constant) else None for e in node.args[1].elts]
        return None in names or bool(set(names) & tracked)
    return True


def raw_bulk_writes():
    """(file:line, model, method) for each `Model.objects….update()`-style call that writes audited
    fields of an audited model without history."""
    audited = {m.__name__: m for m in audit.audited_models()}
    audited["get_user_model"] = audited["User"]
    found = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in BULK_WRITES:
                    continue
                name = _root_name(node.func.value)
                if name not in audited or (relative, name, node.func.attr) in ALLOWED:
                    continue
                if _touches_audited_fields(node, audited[name]):
                    found.append(f"{relative}:{node.lineno} {name} .{node.func.attr}()")
    return found


def test_no_code_path_bulk_writes_an_audited_model_without_history():
    """Use annotation.audit.audited_update or simple_history's *_with_history helpers instead."""
    assert raw_bulk_writes() == []


def test_the_lint_catches_a_raw_update_of_audited_fields_only(tmp_path, monkeypatch):
    for folder in SCANNED:
        (tmp_path / folder).mkdir()
    (tmp_path / "annotation" / "bad.py").write_text(
        "Prompt.objects.filter(pk=1).update(split='train')\n"
        "TrainingRun.objects.filter(pk=1).update(heartbeat_at=None)\n"
        "RoundRater.objects.filter(pk=1).update(**fields)\n"
        "get_user_model().objects.filter(pk=1).update(is_superuser=True)\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert raw_bulk_writes() == [
        "annotation/bad.py:1 Prompt .update()",
        "annotation/bad.py:3 RoundRater .update()",
        "annotation/bad.py:4 get_user_model .update()",
    ]
