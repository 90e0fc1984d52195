"""The HTML reports in a real browser (Debian's chromium, driven by Playwright).

Two specs run into one folder (so an index page links them); one has a study called
``<script>…</script>``. Every page opens without console errors, every image loads, every
local link resolves, no script runs, and hostile labels read as text. ``.ci/run`` installs
chromium when it is missing, so in CI this test always runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from hiermeta.cli import main

CHROMIUM = shutil.which("chromium")
HOSTILE = "<script>alert('x')</script> & <b>bold</b>"
CSV = (
    "study,hr,lo,hi,design\n"
    f'"{HOSTILE}",0.66,0.49,0.88,RCT\n'
    "B,1.04,0.81,1.34,RCT\nC,0.53,0.36,0.78,obs\nD,0.65,0.55,0.76,obs\nE,0.72,0.56,0.94,obs\n"
)
SPEC = """title = "{title}"
[data]
csv = "studies.csv"
estimate = "hr"
lower = "lo"
upper = "hi"
study = "study"
covariates = ["design"]
{model}
[engines]
bayesian = ["exact"]
frequentist = ["REML"]
ci = ["wald"]
"""

if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("chromium is missing in CI: .ci/run installs it", pytrace=False)
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI installs it)"),
    pytest.mark.slow,  # a real browser; runs in make test (CI), not in make test-fast
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    (folder / "studies.csv").write_text(CSV, encoding="utf-8")
    (folder / "plain.toml").write_text(SPEC.format(title="Plain <i>title</i>", model=""))
    (folder / "groups.toml").write_text(
        SPEC.format(title="By design", model='[model]\nmoderators = ["design"]')
    )
    out = folder / "out"
    args = ["run", str(folder / "plain.toml"), str(folder / "groups.toml"), "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    return out


def _check_page(page, path: Path) -> str:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append(f"a script ran: {d.message}"))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    assert errors == [], errors
    broken = page.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length"
    )
    assert broken == 0
    assert page.evaluate("document.scripts.length") == 0
    for href in page.evaluate("Array.from(document.links).map(a => a.getAttribute('href'))"):
        if href.startswith("#"):
            assert page.evaluate(f"document.getElementById({href[1:]!r}) !== null"), href
        else:
            target = urlparse(href)
            assert not target.scheme, f"{path.name} links outside: {href}"
            assert (path.parent / unquote(target.path)).is_file(), href
    return page.inner_text("body")


def test_every_report_opens_cleanly_in_chromium(reports: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    pages = [reports / "index.html", *sorted(reports.glob("*/report.html"))]
    assert len(pages) == 3
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        texts = {path.parent.name: _check_page(page, path) for path in pages}
        page.goto((reports / "groups" / "report.html").as_uri())
        page.screenshot(path=str(reports / "groups_report.png"), full_page=False)
        browser.close()
    report = texts["groups"]
    assert HOSTILE in report  # the study label is shown as text, not run or rendered
    assert "Plain <i>title</i>" in texts["out"]  # the index page: titles escaped too
    for heading in ("Probability of benefit", "Heterogeneity", "Subgroups", "Methods"):
        assert heading in report
    assert "design = obs vs RCT" in report  # readable coefficient names, not design[obs]
    assert "design[" not in report


def test_markdown_report_escapes_the_data(reports: Path) -> None:
    text = (reports / "plain" / "report.md").read_text()
    assert "<script>" not in text and "<b>" not in text and "<i>" not in text
    assert r"&lt;script>alert('x')&lt;/script> & &lt;b>bold&lt;/b>" in text
