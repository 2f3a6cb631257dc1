"""axe-core in the browser tests: the vendored file is evaluated into the page by the test, never
served by a page, so it needs no exception in the Content-Security-Policy."""

from pathlib import Path

AXE_JS = Path(__file__).resolve().parent.parent / "static" / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

_source = None


def _axe_source() -> str:
    global _source
    if _source is None:
        _source = AXE_JS.read_text(encoding="utf-8")
    return _source


def axe_violations(page, *, impacts=BLOCKING) -> list[dict]:
    """Run axe-core (WCAG 2 A/AA and best practices) on the page; violations of the given impacts."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Inside a function: axe's UMD wrapper then attaches itself to window.
        page.evaluate("() => {\n" + _axe_source() + "\n}")
    result = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations'],"
        " runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [v for v in result["violations"] if v["impact"] in impacts]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = ", ".join(str(node["target"]) for node in v["nodes"][:4])
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} nodes: {targets})")
    return "\n".join(lines)


def sideways_scroll(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no sideways scrolling)."""
    return page.evaluate("() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")
