"""Shared fixtures: a real browser (Debian's chromium through Playwright) against a live server."""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# inside one unless told it is safe, which it is here (one thread, no real async code).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _catalog_after_flush(request):
    """Transactional tests start from the migrated catalog even if an earlier one flushed it."""
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        request.getfixturevalue("transactional_db")
        from tests.catalog import ensure_catalog

        ensure_catalog()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache: ids are reused once a test's transaction rolls back."""
    try:
        from django.core.cache import cache
    except ImportError:  # the vLLM environment runs its modeling tests without Django
        return
    cache.clear()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


# Every page reports what its Content-Security-Policy refused, on every navigation of the test.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => window.__cspViolation(
  `${event.effectiveDirective} refused ${event.blockedURI || "inline code"} on ${event.documentURI}`
  + (event.sample ? `: ${event.sample}` : "")
));
"""


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context per test; every request outside the live server is blocked.

    The test fails at teardown if a page broke its Content-Security-Policy or sent a
    Permissions-Policy the browser could not read.
    """
    context = browser.new_context(base_url=live_server.url)
    context.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(live_server.url) else route.abort()
    )
    violations = []

    def on_console(message):
        if "Content Security Policy" in message.text or "Permissions-Policy" in message.text:
            violations.append(message.text)

    context.expose_function("__cspViolation", lambda report: violations.append(report))
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", on_console)
    page.set_default_timeout(15_000)
    yield page
    context.close()
    if violations:
        pytest.fail("The browser reported policy violations:\n" + "\n".join(violations))


@pytest.fixture
def login(page):
    """login(username, password) through the real login form."""

    def _login(username, password):
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url("**/")
        return page

    return _login


# --- The suite leaves nothing behind outside var/ and temporary folders --------------------------

# Untracked paths a run may legitimately create or find (environments, caches, run-time state).
_ALLOWED_LITTER = (
    "var/",
    ".venv/",
    ".venv-vllm/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".coverage",
    "htmlcov/",
    "staticfiles/",
)


def _litter() -> set[str] | None:
    import subprocess

    try:
        listed = subprocess.run(
            ["git", "ls-files", "--others", "--directory", "--no-empty-directory"],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout: nothing to compare against
    return {p for p in listed if not p.startswith(_ALLOWED_LITTER) and "__pycache__" not in p}


def pytest_sessionstart(session):
    session.config._litter_before = _litter()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_litter_before", None)
    after = _litter()
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        print(f"\nThe test run left files outside var/ and temporary folders: {', '.join(new)}")
        session.exitstatus = 1
