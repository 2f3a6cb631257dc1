"""System prompts are versioned: editing in the admin adds a version and leaves the old one intact."""

from django.urls import reverse

from annotation import systemprompts
from annotation.models import Prompt, SystemPrompt
from tests.personas import PersonaTestCase


class SystemPromptTests(PersonaTestCase):
    def test_the_shipped_prompts_exist_and_psychosafe_covers_the_four_parts_and_resources(self):
        assert systemprompts.current("generic").text == "You are a helpful assistant."
        text = systemprompts.current("psychosafe").text
        for needle in (
            "Acknowledge",
            "self-help",
            "resources",
            "hope",
            "988",
            "116 123",
            "Green Dot",
            "Motivational Interviewing",
            "findahelpline.com",
        ):
            assert needle in text, needle

    def test_save_new_version_numbers_per_key(self):
        first = systemprompts.save_new_version(key="custom", name="Custom", text="a", user=self.ada)
        second = systemprompts.save_new_version(key="custom", name="Custom", text="b", user=self.ada)
        assert (first.version, second.version) == (1, 2) and systemprompts.current("custom") == second

    def test_editing_in_the_admin_creates_the_next_version(self):
        original = SystemPrompt.objects.get(key="generic", version=1)
        self.client.force_login(self.ada)
        url = reverse("admin:annotation_systemprompt_change", args=[original.pk])
        response = self.client.post(url, {"key": "generic", "name": "Generic baseline", "text": "Be helpful."})
        assert response.status_code == 302
        original.refresh_from_db()
        assert original.text == "You are a helpful assistant."
        assert systemprompts.current("generic").text == "Be helpful." and systemprompts.current("generic").version == 2

    def test_the_admin_split_action_reports_its_findings(self):
        from tests.annotation.test_splits import make_pairs

        make_pairs(self.alice, per_domain=3)
        self.client.force_login(self.ada)
        response = self.client.post(
            reverse("admin:annotation_prompt_changelist"),
            {"action": "make_splits_default", "_selected_action": [Prompt.objects.first().pk]},
            follow=True,
        )
        assert b"Leakage check" in response.content
        assert b"suicide: train 1, validation 1, test 1" in response.content
