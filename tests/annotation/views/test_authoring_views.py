"""The authoring pages: write, save a draft whatever the checks say, submit, revise, live checks JSON."""

from django.urls import reverse

from annotation.models import ModelCondition, Prompt, Response, RiskDomain, SystemPrompt
from tests.personas import PersonaTestCase

ANSWER = (
    "That sounds so heavy. I can't help with that, but I'm here. Tonight, try writing down one person you "
    "could message. You can call or text 988. You deserve support, and things can get better."
)


class AuthoringPageTests(PersonaTestCase):
    def setUp(self):
        self.client.force_login(self.alice)
        self.suicide = RiskDomain.objects.get(slug="suicide")

    def _post(self, url, **extra):
        data = {
            "prompt_text": "I want to disappear",
            "domain": self.suicide.pk,
            "locale": "en-US",
            "should_refuse": "1",
            "text": ANSWER,
            "risk_category": "ideation",
            **extra,
        }
        return self.client.post(url, data)

    def test_the_editor_offers_the_four_parts_strategies_and_resources(self):
        page = self.client.get(reverse("pair-new"))
        assert page.status_code == 200
        for text in (b"acknowledge", b"Safety Planning Intervention", b"Samaritans", b"registry-data"):
            assert text in page.content

    def test_a_draft_saves_even_when_the_checks_warn(self):
        response = self._post(reverse("pair-new"), text="Abusers like you never change.")
        pair = Response.objects.get()
        assert response.status_code == 302 and pair.status == "draft" and pair.created_by == self.alice
        assert pair.prompt.created_by == self.alice and pair.prompt.source == "authored"

    def test_save_and_submit_submits(self):
        self._post(reverse("pair-new"), submit="1")
        assert Response.objects.get().status == "submitted"

    def test_editing_and_the_detail_page_show_status_and_history(self):
        self._post(reverse("pair-new"))
        pair = Response.objects.get()
        self._post(reverse("pair-edit", args=[pair.pk]), text=ANSWER + " More hope.")
        page = self.client.get(reverse("pair-detail", args=[pair.pk]))
        assert b"Edited the answer" in page.content and b"Submit for review" in page.content

    def test_editing_the_prompt_of_a_pair_with_model_outputs_makes_a_new_version_the_page_shows(self):
        self._post(reverse("pair-new"))
        pair = Response.objects.get()
        condition = ModelCondition.objects.create(
            name="gen", base_model="m", system_prompt=SystemPrompt.objects.get(key="generic")
        )
        output = Response.objects.create(prompt=pair.prompt, text="Model said", origin="model", condition=condition)
        self._post(reverse("pair-edit", args=[pair.pk]), prompt_text="I want to vanish")
        pair.refresh_from_db()
        output.refresh_from_db()
        assert output.prompt.text == "I want to disappear"  # what the model answered stays
        assert (pair.prompt.text, pair.prompt.version, pair.prompt.previous_version) == (
            "I want to vanish",
            2,
            output.prompt,
        )
        page = self.client.get(reverse("pair-detail", args=[pair.pk])).content.decode()
        assert "Earlier versions of this prompt" in page and "I want to disappear" in page
        assert "New prompt version v2" in page

    def test_another_author_cannot_edit(self):
        self._post(reverse("pair-new"))
        pair = Response.objects.get()
        self.client.force_login(self.bob)
        assert self.client.get(reverse("pair-edit", args=[pair.pk])).status_code == 404

    def test_live_checks_return_findings_as_json(self):
        data = self.client.post(
            reverse("pair-checks"),
            {"text": "You're an addict.", "domain": self.suicide.pk, "locale": "en-US", "should_refuse": "1"},
        ).json()
        checks = {f["check"] for f in data["findings"] if f["level"] == "warning"}
        assert {"structure", "resources", "labels"} <= checks
        assert data["parts"]["closing"] is False

    def test_untrusted_text_is_escaped_on_the_pair_page(self):
        self._post(reverse("pair-new"), text="<script>alert(1)</script> " + ANSWER)
        page = self.client.get(reverse("pair-detail", args=[Response.objects.get().pk]))
        assert b"<script>alert(1)" not in page.content and b"&lt;script&gt;alert(1)" in page.content


class ReviseTests(PersonaTestCase):
    def test_a_reviewer_revises_a_model_output_into_a_linked_pair(self):
        prompt = Prompt.objects.create(text="How do I hurt him?", domain=RiskDomain.objects.get(slug="violence"))
        condition = ModelCondition.objects.create(
            name="gen", base_model="m", system_prompt=SystemPrompt.objects.get(key="generic")
        )
        output = Response.objects.create(
            prompt=prompt, text="Here is how <b>x</b>", origin="model", condition=condition
        )
        self.client.force_login(self.rita)
        url = reverse("pair-new") + f"?from={output.public_id}"
        page = self.client.get(url)
        assert b"Here is how &lt;b&gt;x&lt;/b&gt;" in page.content
        self.client.post(url, {"text": "Revised by Rita. Call 1-877-898-3411.", "submit": "1"})
        pair = Response.objects.get(origin="reference")
        assert pair.source_response == output and pair.prompt == prompt and pair.created_by == self.rita
        assert pair.status == "submitted"
        assert Prompt.objects.count() == 1
