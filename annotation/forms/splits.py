"""The split builder's form: seed, validation/test sizes per domain, benign controls."""

from django import forms

from annotation.models import RiskDomain

PAPER_PER_DOMAIN = 100


class SplitBuildForm(forms.Form):
    seed = forms.IntegerField(
        initial=42, min_value=0, max_value=2**31 - 1, help_text="The same seed and data give the same splits."
    )
    benign_per_domain = forms.IntegerField(
        min_value=0,
        required=False,
        label="Benign controls per domain",
        help_text="Hold out this many benign controls (safe prompts that merely sound risky) per domain in "
        "validation and as many in test, apart from the risky prompts. Blank: benign controls are mixed "
        "with the rest.",
    )

    def __init__(self, *args, initial_sizes: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.domains = list(RiskDomain.objects.order_by("priority", "slug"))
        for domain in self.domains:
            self.fields[self.size_field(domain)] = forms.IntegerField(
                min_value=0,
                label=f"{domain.name}: validation and test prompts",
                initial=(initial_sizes or {}).get(domain.slug, PAPER_PER_DOMAIN),
                help_text="As many in validation as in test; at most a third of the domain's prompts each.",
            )

    @staticmethod
    def size_field(domain) -> str:
        return f"size_{domain.slug}"

    def size_fields(self):
        return [self[self.size_field(domain)] for domain in self.domains]

    def sizes(self) -> dict[str, int]:
        return {domain.slug: self.cleaned_data[self.size_field(domain)] for domain in self.domains}
