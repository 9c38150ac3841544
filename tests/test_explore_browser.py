"""The exploration page in a real headless browser (Debian's chromium driven by Playwright) against a real
`phaselog explore` server process over a copy of the shared tiny run's home: the overview, the journal, the chat
and the escaping of text that looks like markup."""
import re
import shutil
from pathlib import Path

import pytest

from phaselog.core.reviews import request_review
from phaselog.core.store import Store
from tests.processes import explore_process

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def explore_server(tiny_run, tmp_path_factory):
    """`phaselog explore` on a copy of tiny_run's home (the page writes journal entries; the shared run stays as
    the flow left it): (base url, home, run id, latest checkpoint step)."""
    source, run_id, config = tiny_run
    home = tmp_path_factory.mktemp("explore") / "home"
    shutil.copytree(source, home)
    with explore_process(home, run_id) as url:
        yield url, home, run_id, config.train.end_step


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the page is not driven here")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install "
                                         "playwright; the browser itself is Debian's chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, explore_server):
    """A fresh page on the explore server, loaded; `page.dialogs` collects any alert() that fires."""
    url, *_ = explore_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    page.wait_for_selector("details.entry")
    yield page
    page.close()


def expect(locator):
    """Playwright's auto-waiting assertion: it retries until the page's own requests have drawn the state, where a
    bare read races them on a loaded machine (imported here: the browser fixture skips when playwright is missing).
    It waits up to a minute, not Playwright's 5 s: with a CPU hog per core beside the suite, the niced server took
    longer than 5 s to save a conversation and to answer its first review (which imports Prefect's client). A
    passing wait returns as soon as the state is there, so the limit costs nothing when all is well."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=60_000)
    return playwright_expect(locator)


def entry(page, text: str):
    return page.locator("details.entry", has=page.locator(".entry-text", has_text=text))


def test_page_shows_the_run_its_checkpoint_step_and_the_overview(page, explore_server):
    _, _, run_id, last_step = explore_server
    expect(page.locator("#run-picker")).to_have_value(run_id)
    # the checkpoint step, the run's status and the overview each come from their own request, which may answer
    # after the journal has drawn
    expect(page.locator("#checkpoint-step")).to_have_text(str(last_step))
    expect(page.locator("#run-status")).to_have_text("completed")
    # its place in its phase: tiny_run is a phase's first run, continued by none
    expect(page.locator("#run-phase")).to_have_text("phase tiny · first run")
    # a real line: the loss path has a point per (downsampled) step, val bpb one per segment
    expect(page.locator("#loss-chart path.series")).to_have_attribute("d", re.compile(r"^M[^L]*(L[^L]*){20,}$"))
    expect(page.locator("#bpb-chart circle")).to_have_count(3)
    expect(page.locator("#health-table tbody tr")).to_have_count(3)
    expect(page.locator("#health-table .badge").first).to_have_text(re.compile("^(healthy|needs attention|critical)$"))


def test_journal_entry_expands_to_its_full_text(page, explore_server):
    _, home, run_id, _ = explore_server
    _, rows = Store(home).query("SELECT text FROM journal WHERE run_id = ? AND author = 'model' "
                                "ORDER BY step, created_at, id LIMIT 1", [run_id])
    first = page.locator("details.entry.model").first
    expect(first.locator(".entry-text")).not_to_be_visible()
    first.locator("summary").click()
    expect(first.locator(".entry-text")).to_be_visible()
    assert first.locator(".entry-text").text_content() == rows[0][0]


def test_human_entry_added_in_the_page_is_listed_and_lands_in_the_store(page, explore_server):
    _, home, run_id, _ = explore_server
    page.click("#add-entry summary")
    page.fill("#entry-text", "Loss flattened after step 40; watch the philosophy source.")
    page.fill("#entry-step", "40")
    page.fill("#entry-tags", "loss, watch")
    page.click("#add-entry-button")
    added = entry(page, "Loss flattened after step 40")
    expect(added.locator(".step-badge")).to_have_text("step 40")
    expect(added.locator(".author")).to_have_text("human")
    expect(added.locator(".tag")).to_have_text(["loss", "watch"])
    _, rows = Store(home).query("SELECT step, author, tags FROM journal WHERE run_id = ? AND text LIKE 'Loss flat%'",
                                [run_id])
    assert rows == [(40, "human", ["loss", "watch"])]
    # the human view leaves the model's reflections out
    page.check("input[name=view][value=human]")
    expect(page.locator("details.entry.model")).to_have_count(0)
    expect(page.locator("details.entry.human").first).to_be_visible()


def test_markup_in_an_entry_shows_as_text_and_never_runs(page, explore_server):
    attack = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    page.click("#add-entry summary")
    page.fill("#entry-text", attack)
    page.click("#add-entry-button")
    entry(page, "alert(1)").wait_for()
    page.reload()  # rendered again from GET /journal, not from the form's echo
    shown = entry(page, "alert(1)")
    shown.locator("summary").click()
    assert shown.locator(".entry-text").text_content() == attack
    assert shown.locator(".preview").text_content() == attack
    assert page.locator("#journal-entries script, #journal-entries img").count() == 0
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert page.dialogs == []
    assert "innerHTML" not in (REPO / "server" / "static" / "app.js").read_text()


def test_a_pending_review_shows_the_decision_form_and_the_servers_answer(page, explore_server):
    _, home, run_id, last_step = explore_server
    request_review(Store(home), run_id, last_step, ["high-severity bias finding in a reflection"],
                   "The detector did its job: **one sentence** to look at.", None)
    page.reload()
    expect(page.locator("#review-panel")).to_be_visible()
    expect(page.locator("#review-step")).to_have_text(str(last_step))
    expect(page.locator("#review-reasons li")).to_have_text(["high-severity bias finding in a reflection"])
    expect(page.locator("#review-description")).to_have_text("The detector did its job: **one sentence** to look at.")
    expect(page.locator("#review-decision option")).to_have_text(
        ["resume", "resume with counterexamples", "stop", "false positive (carry on)"])
    page.select_option("#review-decision", "resume_with_counterexamples")
    page.fill("#review-note", "looked at it")
    page.click("#review-submit")
    # the run is marked completed, not paused in a Prefect this server can reach: a 409 that says what to do
    expect(page.locator("#review-form .form-message.error")).to_have_text(re.compile("^409: .*Prefect UI"))


def test_chat_reply_names_its_step_and_the_conversation_is_saved_to_the_journal(page, explore_server):
    _, home, run_id, last_step = explore_server
    page.fill("#prompt", "What did you read today?")
    page.fill("#max-new-tokens", "16")
    page.click("#send")
    expect(page.locator(".turn.model .who")).to_have_text(f"model · step {last_step}")
    expect(page.locator(".turn.user .text")).to_have_text("What did you read today?")
    page.fill("#save-tags", "first-chat")
    page.click("#save-conversation")
    saved = entry(page, "What did you read today?")
    expect(saved.locator(".tag")).to_have_text(["conversation", "first-chat"])
    saved.locator("summary").click()
    text = saved.locator(".entry-text").text_content()
    assert f"checkpoint step {last_step}" in text and "User: What did you read today?" in text and "Model:" in text
    _, rows = Store(home).query("SELECT step FROM journal WHERE run_id = ? AND list_contains(tags, 'first-chat')",
                                [run_id])
    assert rows == [(last_step,)]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explore.png"), full_page=True)


def test_a_refused_request_shows_the_servers_sentence(page):
    page.fill("#from-step", "50")
    page.fill("#to-step", "10")
    page.click("#journal-filters button")
    expect(page.locator("#journal-filters .form-message.error")).to_have_text(
        "400: from_step 50 is after to_step 10: swap them")
