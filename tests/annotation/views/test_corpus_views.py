"""The corpus browser page: a fixed number of queries, escaped text, the filters carried to export."""

from django.urls import reverse

from annotation.audit import audited_update
from annotation.models import Response
from tests.annotation.test_corpus import CorpusFixtures


class CorpusBrowserTests(CorpusFixtures):
    def test_browser_page_uses_a_fixed_number_of_queries(self):
        self.client.force_login(self.rita)
        url = reverse("corpus") + "?domain=suicide&q=anger"
        self.client.get(url)  # warm the session, role and search-structure checks
        with self.assertNumQueries(9):  # the user comes with their roles; the session from the cache
            page = self.client.get(url)
        assert page.status_code == 200 and b"prompt 4 about anger" in page.content
        assert b"Older" not in page.content

    def test_browser_escapes_text_and_offers_export_with_the_filters(self):
        audited_update(Response.objects.filter(pk=self.pairs[0].pk), text="<img src=x onerror=alert(1)>")
        self.client.force_login(self.alice)
        page = self.client.get(reverse("corpus") + "?status=approved")
        assert b"<img src=x" not in page.content
        assert b'name="status" value="approved"' in page.content
        assert b'<option value="approved" selected>' in page.content  # the filter stays chosen

    def test_a_bad_filter_value_is_reported_and_the_other_filters_still_apply(self):
        self.client.force_login(self.rita)
        page = self.client.get(reverse("corpus") + "?domain=suicide&status=bogus").content.decode()
        assert "4 pairs match these filters" in page  # the suicide pairs, of every status
        assert "The status filter “bogus” is not valid and was left out" in page
        assert 'name="domain" value="suicide"' in page and 'value="bogus"' not in page
        page = self.client.get(reverse("corpus") + "?domain=nowhere&status=approved").content.decode()
        assert "3 pairs match these filters" in page
        assert "The domain filter “nowhere” is not valid" in page

    def test_valid_filters_report_nothing(self):
        self.client.force_login(self.rita)
        page = self.client.get(reverse("corpus") + "?domain=suicide&status=draft").content.decode()
        assert "is not valid" not in page and 'id="filter-problems"' not in page
