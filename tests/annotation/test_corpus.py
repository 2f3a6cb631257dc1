"""The corpus: filters, full-text search (FTS5 on SQLite, tsvector on PostgreSQL), keyset pages."""

from django.db import connection

from annotation import corpus
from annotation.models import InterventionStrategy, Prompt, Response, RiskDomain
from tests.personas import PersonaTestCase


class CorpusFixtures(PersonaTestCase):
    @classmethod
    def setUpTestData(cls):
        super().setUpTestData()
        suicide, violence = RiskDomain.objects.get(slug="suicide"), RiskDomain.objects.get(slug="violence")
        cls.pairs = []
        for i in range(7):
            domain = suicide if i % 2 == 0 else violence
            prompt = Prompt.objects.create(
                text=f"prompt {i} about {'sleeping pills' if i == 3 else 'anger'}",
                domain=domain,
                split="train" if i < 3 else "unassigned",
                source="imported" if i == 6 else "authored",
            )
            pair = Response.objects.create(
                prompt=prompt,
                origin="reference",
                status="approved" if i % 3 == 0 else "draft",
                text=f"answer {i}: {'breathing exercise' if i == 5 else 'call someone'}",
                created_by=cls.alice if i < 4 else cls.bob,
            )
            if i == 1:
                pair.strategies.add(InterventionStrategy.objects.get(key="green-dot"))
            cls.pairs.append(pair)


class CorpusTests(CorpusFixtures):
    def _ids(self, **filters):
        return {p.pk for p in corpus.pairs(filters=corpus.PairFilter(**filters))}

    def test_filters(self):
        p = self.pairs
        assert self._ids(domain="violence") == {p[1].pk, p[3].pk, p[5].pk}
        assert self._ids(status="approved") == {p[0].pk, p[3].pk, p[6].pk}
        assert self._ids(split="train") == {p[0].pk, p[1].pk, p[2].pk}
        assert self._ids(source="imported") == {p[6].pk}
        assert self._ids(author="bob") == {p[4].pk, p[5].pk, p[6].pk}
        assert self._ids(strategy="green-dot") == {p[1].pk}

    def test_full_text_search_matches_prompt_or_answer_words(self):
        assert self._ids(q="sleeping pills") == {self.pairs[3].pk}
        assert self._ids(q="breathing") == {self.pairs[5].pk}
        assert self._ids(q="breathe") == (
            {self.pairs[5].pk} if connection.vendor in ("postgresql", "sqlite") else set()
        )  # stemming
        assert self._ids(q='" OR 1=1 --') == set()  # punctuation never reaches the FTS syntax
        assert self._ids(q="zebra") == set()

    def test_search_sees_edits(self):
        pair = self.pairs[0]
        pair.text = "now mentions a zebra"
        pair.save()
        assert self._ids(q="zebra") == {pair.pk}

    def test_keyset_pages_walk_forward_and_back(self):
        queryset = corpus.pairs(filters=corpus.PairFilter())
        first = corpus.page(queryset=queryset, size=3)
        assert [r.pk for r in first.rows] == [p.pk for p in reversed(self.pairs)][:3]
        assert first.prev_before is None and first.total == 7
        second = corpus.page(queryset=queryset, after=first.next_after, size=3)
        assert [r.pk for r in second.rows] == [p.pk for p in reversed(self.pairs)][3:6]
        back = corpus.page(queryset=queryset, before=second.prev_before, size=3)
        assert [r.pk for r in back.rows] == [r.pk for r in first.rows]
        last = corpus.page(queryset=queryset, after=second.next_after, size=3)
        assert [r.pk for r in last.rows] == [self.pairs[0].pk] and last.next_after is None
