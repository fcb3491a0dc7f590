"""The console in a real browser: headless Chromium (Debian's package, installed by
scripts/install.sh) driven by Playwright, against a real server over the committed suite
(and a second one whose spaces also hold model tasks with their output information on U,
one space keeping neighbour lists for CSLS and one not).

``FUTE_SCREENSHOTS=docs/images pytest tests/http_api/test_console_browser.py`` also writes the
screenshots shown in the README.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from http_kit import READ, SPACE, SUITE, SUITE_DATA, WRITE, Served, http, serve_suite

from fute.embedding import TaskEmbedding
from fute.informativeness import LOW_ENTROPY_THRESHOLD
from fute_client.types import OutputInfo, Task, TaskSource
from server.embedding_upload import identity_of, upload_embeddings

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


def _console(playwright: Any, served: Served) -> Iterator[Any]:
    """A page on the console of ``served``, loaded; no script errors by the end."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
    pg = browser.new_page(viewport={"width": 1280, "height": 760})
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(served.base + "/")
    pg.wait_for_selector("body[data-ready='1']")
    yield pg
    browser.close()
    assert errors == [], errors


@pytest.fixture(scope="module")
def page(playwright: Any, served_open: Served) -> Iterator[Any]:
    yield from _console(playwright, served_open)


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


# ---------------------------------------------------------------- models on U, CSLS

PLAIN = "suite-plain"  # the same tasks in a space without neighbour lists
SAYS_LITTLE = OutputInfo(
    n=100, n_answers=2, answer_entropy=0.0, majority_share=1.0, majority_index=0, spread=0.01
)
SAYS_MUCH = OutputInfo(
    n=100, n_answers=2, answer_entropy=0.91, majority_share=0.66, majority_index=1, spread=0.3
)


def _model_tasks(suite: list[TaskEmbedding]) -> list[Task]:
    """Three spam-filter models next to sms_spam: one whose outputs on U say little, one
    whose outputs vary, one stored without output information."""
    near = next(e.vector for e in suite if e.task.name == "sms_spam").astype(np.float64)
    rng = np.random.default_rng(0)

    def nearby() -> np.ndarray:
        noise = rng.normal(size=near.shape[0]) * 0.05 * np.linalg.norm(near) / np.sqrt(near.shape[0])
        out: np.ndarray = (near + noise).astype(np.float32)
        return out

    def model(task_id: str, info: OutputInfo | None) -> Task:
        return Task(
            id=task_id,
            vector=nearby(),
            name=task_id,
            kind="model",
            task_type="spam",
            label_names=("ham", "spam"),
            source=TaskSource(model=f"test/{task_id}"),
            output_info=info,
        )

    return [model("quiet-filter", SAYS_LITTLE), model("lively-filter", SAYS_MUCH), model("old-filter", None)]


@pytest.fixture(scope="module")
def served_models(
    tmp_path_factory: pytest.TempPathFactory, suite_text: list[TaskEmbedding]
) -> Iterator[Served]:
    """A server without auth whose suite space (kept neighbours) also holds the three models,
    beside PLAIN: the same tasks in a space created without keep_neighbours."""
    s = serve_suite(Path(tmp_path_factory.mktemp("store-models")), suite_text)
    try:
        models = _model_tasks(suite_text)
        assert s.client.upsert(SPACE, models).failed == 0
        s.client.create_space(PLAIN, suite_text[0].vector.shape[0], identity=identity_of(suite_text[0].space))
        assert upload_embeddings(s.client, PLAIN, suite_text).failed == 0
        assert s.client.upsert(PLAIN, models).failed == 0
        assert s.client.describe_space(SPACE).keep_neighbours
        assert not s.client.describe_space(PLAIN).keep_neighbours
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def models_page(playwright: Any, served_models: Served) -> Iterator[Any]:
    yield from _console(playwright, served_models)


def _choose_space(pg: Any, name: str) -> None:
    pg.click(f"#spaces li[data-space='{name}']")
    pg.wait_for_selector(f"body[data-space='{name}']")
    sync_api.expect(pg.locator("#tasks-table tbody tr")).to_have_count(len(SUITE) + 3)


def _notes(pg: Any, rows: str) -> dict[str, list[str]]:
    """Each row's (or list item's) output-information note: its class and text, [] for none."""
    return dict(
        pg.locator(rows).evaluate_all(
            """rs => rs.map(r => [r.dataset.id,
                [...r.querySelectorAll('.says-little, .entropy')].map(n => n.className + ': ' + n.textContent)])"""
        )
    )


WARNING = "says-little: (!) says little on U: answer entropy 0.00, 100% 'ham'"
ENTROPY = "entropy: answer entropy 0.91"


def test_low_entropy_models_are_flagged_in_the_table_and_the_neighbours(
    models_page: Any, served_models: Served
) -> None:
    pg = models_page
    _choose_space(pg, SPACE)
    notes = _notes(pg, "#tasks-table tbody tr")
    assert notes.pop("quiet-filter") == [WARNING]
    assert notes.pop("lively-filter") == [ENTROPY]  # shown, not flagged
    assert notes.pop("old-filter") == []  # a model stored without output information
    assert set(notes) == {e["name"] for e in SUITE} and not any(notes.values())  # datasets: nothing
    tooltip = pg.locator("#tasks-table tr[data-id='quiet-filter'] .says-little").get_attribute("title")
    assert f"Answer entropy below {LOW_ENTROPY_THRESHOLD}" in tooltip and "signature of U's inputs" in tooltip
    assert "answer entropy 0.00, 100% 'ham', spread 0.01 over 100 inputs of U" in tooltip
    calm = pg.locator("#tasks-table tr[data-id='lively-filter'] .entropy").get_attribute("title")
    assert f"below {LOW_ENTROPY_THRESHOLD} the console flags it" in calm

    pg.click(".tabs button[data-tab=map]")
    pg.wait_for_selector("#map .point[data-id='quiet-filter']")
    title = pg.locator("#map .point[data-id='quiet-filter'] title").text_content()
    assert title.endswith("· (!) says little on U: answer entropy 0.00, 100% 'ham'")
    pg.locator("#map .point[data-id='sms_spam']").dispatch_event("click")  # models sit on top of it
    sync_api.expect(pg.locator("#neighbours-title")).to_have_text("Nearest neighbours of sms_spam")
    shown = _notes(pg, "#neighbours li")
    want = [h.id for h in served_models.client.search(SPACE, ["sms_spam"], k=5)[0]]
    assert list(shown) == want and {"quiet-filter", "lively-filter", "old-filter"} <= set(want)
    assert shown.pop("quiet-filter") == [WARNING]
    assert shown.pop("lively-filter") == [ENTROPY]
    assert not any(shown.values())


def _listed(pg: Any) -> tuple[list[str], list[float]]:
    items = pg.locator("#neighbours li")
    ids = items.evaluate_all("ls => ls.map(l => l.dataset.id)")
    return ids, [float(x) for x in items.evaluate_all("ls => ls.map(l => l.dataset.score)")]


def _click_point(pg: Any, task_id: str, similarity: str) -> dict[str, Any]:
    """Click a task on the map; the /similar request body the console sent."""
    with pg.expect_request(lambda r: r.url.endswith("/similar")) as request:
        pg.locator(f"#map .point[data-id='{task_id}']").dispatch_event("click")
    sync_api.expect(pg.locator("#neighbours")).to_have_attribute("data-similarity", similarity)
    body: dict[str, Any] = json.loads(request.value.post_data)
    return body


def test_csls_is_offered_only_for_a_space_keeping_neighbours(models_page: Any, served_models: Served) -> None:
    pg, base = models_page, served_models.base
    query = {"queries": [{"id": "trec_coarse"}], "k": 5}
    _choose_space(pg, PLAIN)
    pg.click(".tabs button[data-tab=map]")
    pg.wait_for_selector("#map .point")
    assert pg.locator("#similarity-choice").is_hidden()
    assert _click_point(pg, "trec_coarse", "cosine") == query
    sync_api.expect(pg.locator("#neighbours-similarity")).to_have_text("Scores: cosine similarity.")

    _choose_space(pg, SPACE)
    pg.wait_for_selector("#map .point")
    sync_api.expect(pg.locator("#similarity-choice")).to_be_visible()
    assert _click_point(pg, "trec_coarse", "cosine") == query
    _, cosine = http("POST", f"{base}/api/v1/spaces/{SPACE}/similar", query)
    cos_ids, cos_scores = _listed(pg)
    assert cos_ids == [h["id"] for h in cosine["results"][0]["hits"]]
    assert cos_scores == pytest.approx([h["score"] for h in cosine["results"][0]["hits"]], abs=1e-9)

    with pg.expect_request(lambda r: r.url.endswith("/similar")) as request:
        pg.select_option("#similarity", "csls")  # asks again for the chosen task
    assert json.loads(request.value.post_data) == {**query, "similarity": "csls"}
    sync_api.expect(pg.locator("#neighbours")).to_have_attribute("data-similarity", "csls")
    assert pg.locator("#neighbours-similarity").inner_text().startswith("Scores: CSLS")
    status, csls = http("POST", f"{base}/api/v1/spaces/{SPACE}/similar", {**query, "similarity": "csls"})
    assert status == 200, csls
    ids, scores = _listed(pg)
    assert ids == [h["id"] for h in csls["results"][0]["hits"]]
    assert scores == pytest.approx([h["score"] for h in csls["results"][0]["hits"]], abs=1e-9)
    assert scores != pytest.approx(cos_scores, abs=1e-3)  # CSLS values, not the cosines
    assert _click_point(pg, "sms_spam", "csls") == {
        **query,
        "queries": [{"id": "sms_spam"}],
        "similarity": "csls",
    }

    # Back to the plain space: no choice, cosine requests, no FAILED_PRECONDITION.
    _choose_space(pg, PLAIN)
    pg.wait_for_selector("#map .point")
    assert pg.locator("#similarity-choice").is_hidden()
    assert pg.locator("#neighbours li").count() == 0  # the other space's list is gone
    assert _click_point(pg, "trec_coarse", "cosine") == query
    assert pg.locator("#status").inner_text() == ""


def test_ranked_models_for_an_upload_carry_the_flag(models_page: Any, tmp_path: Path) -> None:
    pg = models_page
    file = tmp_path / "my-messages.jsonl"
    file.write_bytes(gzip.decompress((SUITE_DATA / "sms_spam" / "dev.jsonl.gz").read_bytes()))
    _choose_space(pg, SPACE)
    pg.click(".tabs button[data-tab=rank]")
    pg.set_input_files("#rank-file", str(file))
    pg.fill("#rank-k", "5")
    pg.fill("#rank-max", "24")
    pg.select_option("#rank-kind", "model")
    pg.click("#rank-form button[type=submit]")
    pg.wait_for_selector("#rank-results tbody tr", timeout=45_000)
    notes = _notes(pg, "#rank-results tbody tr")
    assert notes == {"quiet-filter": [WARNING], "lively-filter": [ENTROPY], "old-filter": []}
