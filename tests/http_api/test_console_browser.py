"""The console in a real browser: headless Chromium (Debian's package, installed by
scripts/install.sh) driven by Playwright, against a real server over the committed suite.

``FUTE_SCREENSHOTS=docs/images pytest tests/http_api/test_console_browser.py`` also writes the
screenshots shown in the README.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_kit import READ, SPACE, SUITE, SUITE_DATA, WRITE, Served

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: scripts/install.sh installs Debian's chromium", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is in the dev extra (scripts/install.sh)"
)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """One Playwright driver per module (a second sync driver cannot start inside it)."""
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def page(playwright: Any, served_open: Served) -> Iterator[Any]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
    pg = browser.new_page(viewport={"width": 1280, "height": 760})
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(served_open.base + "/")
    pg.wait_for_selector("body[data-ready='1']")
    yield pg
    browser.close()
    assert errors == [], errors


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("FUTE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"console-{name}.png"), full_page=True)


def test_console_shows_spaces_identity_and_a_paged_task_table(page: Any) -> None:
    started = time.monotonic()
    assert page.locator("#spaces li.active").inner_text().startswith(SPACE)
    assert "text" in page.locator("#identity").inner_text()
    rows = page.locator("#tasks-table tbody tr")
    assert rows.count() == 16  # the page size is 25: the whole suite
    page.select_option("#f-size", "10")
    page.fill("#f-name", "vader")
    page.click("#task-filters button[type=submit]")
    sync_api.expect(rows).to_have_count(4)
    assert sorted(page.locator("#tasks-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")) == [
        "vader_amazon",
        "vader_movies",
        "vader_nyt",
        "vader_tweets",
    ]
    page.fill("#f-name", "")
    page.click("#task-filters button[type=submit]")
    sync_api.expect(rows).to_have_count(10)
    page.click("#next")
    sync_api.expect(rows).to_have_count(6)
    # Read-only: no write controls are shown without a write token.
    assert not page.locator("#tasks-table tbody button").first.is_visible()
    page.click("#prev")
    sync_api.expect(rows).to_have_count(10)
    _shot(page, "tasks")
    assert time.monotonic() - started < 30


def test_map_shows_every_task_and_a_click_lists_the_grpc_neighbours(page: Any, served_open: Served) -> None:
    page.click(".tabs button[data-tab=map]")
    page.wait_for_selector("#map .point")
    ids = page.locator("#map .point").evaluate_all("ps => ps.map(p => p.dataset.id)")
    assert sorted(ids) == sorted(e["name"] for e in SUITE)
    assert "Spearman" in page.locator("#map-info").inner_text()
    page.click("#map .point[data-id='sms_spam']")
    page.wait_for_selector("#neighbours li")
    shown = page.locator("#neighbours li").evaluate_all("ls => ls.map(l => l.dataset.id)")
    expected = [h.id for h in served_open.client.search(SPACE, ["sms_spam"], k=5)[0]]
    assert shown == expected
    _shot(page, "map")


def test_heatmap_draws_the_clustered_matrix(page: Any) -> None:
    page.click(".tabs button[data-tab=heatmap]")
    page.wait_for_selector("#heatmap rect.cell")
    assert page.locator("#heatmap rect.cell").count() == len(SUITE) ** 2
    _shot(page, "heatmap")


def test_upload_ranks_sources(page: Any, tmp_path: Path) -> None:
    file = tmp_path / "my-questions.jsonl"
    file.write_bytes(gzip.decompress((SUITE_DATA / "trec_coarse" / "dev.jsonl.gz").read_bytes()))
    page.click(".tabs button[data-tab=rank]")
    page.set_input_files("#rank-file", str(file))
    page.fill("#rank-k", "5")
    page.fill("#rank-max", "24")
    # Record whether the progress indicator shows while the server embeds.
    page.evaluate(
        """() => { window.sawProgress = false;
        const bar = document.querySelector('#rank-progress');
        new MutationObserver(() => { if (!bar.hidden) window.sawProgress = true; }).observe(bar, {attributes: true}); }"""
    )
    page.click("#rank-form button[type=submit]")
    page.wait_for_selector("#rank-results tbody tr", timeout=45_000)
    ranked = page.locator("#rank-results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert len(ranked) == 5 and ranked[0] in ("trec_coarse", "trec_fine")
    assert "24 of" in page.locator("#rank-summary").inner_text()
    assert page.evaluate("() => window.sawProgress") is True
    assert page.locator("#rank-progress").is_hidden()  # and hides once done
    _shot(page, "rank")


def test_console_is_read_only_until_a_write_token_is_entered(playwright: Any, served: Served) -> None:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
    try:
        pg = browser.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(served.base + "/")
        sync_api.expect(pg.locator("#access")).to_have_text("no access: enter a token")
        pg.fill("#token", READ)
        pg.click("#token-use")
        sync_api.expect(pg.locator("#access")).to_have_text("read-only")
        sync_api.expect(pg.locator("#tasks-table tbody tr")).to_have_count(len(SUITE))
        assert not pg.locator("#tasks-table tbody button").first.is_visible()
        pg.click(".tabs button[data-tab=snapshots]")
        assert not pg.locator("#snap-create").is_visible()
        pg.fill("#token", WRITE)
        pg.click("#token-use")
        sync_api.expect(pg.locator("#access")).to_have_text("read-write")
        pg.click(".tabs button[data-tab=tasks]")
        sync_api.expect(pg.locator("#tasks-table tbody button").first).to_be_visible()
        pg.click(".tabs button[data-tab=snapshots]")
        pg.fill("#snap-name", "from-console")
        pg.click("#snap-create")
        sync_api.expect(pg.locator("#snapshots tbody tr td").first).to_have_text("from-console")
        assert [s.name for s in served.client.list_snapshots()] == ["from-console"]
    finally:
        browser.close()
