"""The phase log reads like the seed-style posts: the posts' sections in their order, a TL;DR of at most five
ranked claims, no sentence said twice, reflections quoted with what they show, every coupling past Holm's
correction over the pairs tried, each finding's verdict (and why a high one did not pause), and a What's next
drawn from the store; on the demo-like tiny run, on the run whose sources join late, and on the synthesised
phase."""
import json
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from phaselog.core.store import Store
from phaselog.reports.build import write_report
from phaselog.reports.couplings import ALPHA, backed, couplings
from phaselog.reports.document import Bullets, Heading, Paragraph, Table, without_repeats
from phaselog.reports.gather import ReportData, gather, whole_phase
from phaselog.reports.synthetic import synthesise_store
from phaselog.reports.training_sections import duration
from phaselog.reports.verdicts import pause_note

POST_SECTIONS = ["TL;DR", "What we changed and why", "What we saw", "How the model talks now", "Loops and bias",
                 "Understanding module", "Runs and speed", "Journal", "What's next"]


def section(markdown: str, heading: str) -> str:
    return markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def bullets(text: str) -> list[str]:
    return [line[2:] for line in text.splitlines() if line.startswith("- ")]


def prose_sentences(markdown: str) -> list[str]:
    """Every sentence outside headings, tables, quoted reflections, charts and the footer."""
    prose = [line[2:] if line.startswith("- ") else line for line in markdown.split("\n---\n")[0].splitlines()
             if line.strip() and not line.startswith(("#", "|", ">", "!["))]
    return [s.rstrip(".") for line in prose for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", line)]


def check_post_shape(markdown: str) -> dict[str, str]:
    headings = re.findall(r"^## (.+)$", markdown, re.MULTILINE)
    assert headings == POST_SECTIONS
    tldr = bullets(section(markdown, "TL;DR"))
    assert 1 <= len(tldr) <= 5
    said = prose_sentences(markdown)
    assert len(said) == len(set(said)), [s for s in said if said.count(s) > 1]
    return {h: section(markdown, h) for h in POST_SECTIONS}


def test_demo_like_run_log_has_the_posts_shape_and_two_follow_ups_from_the_store(tiny_run, tmp_path):
    home, run_id, _ = tiny_run
    store = Store(home)
    markdown = Path(write_report(home, run_id, tmp_path)["markdown"]).read_text()
    parts = check_post_shape(markdown)
    # the duration is training time: the segments' seconds, not the time until the report was written
    (trained,), = store.query("SELECT sum(seconds) FROM segments WHERE run_id = ?", [run_id])[1]
    assert f", {duration(trained)} of training (" in markdown.split("\n## ")[0]
    # a reflection from each of several self-plays (the last among them), each with its loss and what it shows
    talk = parts["How the model talks now"]
    quotes = re.findall(r"^> `step (\d+)` `sample \d` .*`loss [\d.]+`$", talk, re.MULTILINE)
    assert len(set(quotes)) >= 2 and "60" in quotes and talk.count("It shows ") == len(quotes)
    assert "content words (stop words and punctuation out)" in talk
    assert "distinctive of philosophy, which joined at step 20" in talk and "distinctive of general" in talk
    # what's next: the loss still falling (with the command that trains on) and philosophy's uptake inside its band
    (score, low, high), = store.query("SELECT score, band_low, band_high FROM uptake WHERE run_id = ? AND source = "
                                      "'philosophy' ORDER BY step DESC LIMIT 1", [run_id])[1]
    follow_ups = bullets(parts["What's next"])
    assert len(follow_ups) >= 2
    assert any("phaselog continue tiny-run --set train.end\\_step=120" in f for f in follow_ups)
    assert any(f"its score {score:.2f} is inside the null band ({low:.2f} to {high:.2f})" in f for f in follow_ups)
    # no findings are said once, by the bias claim, not again in a sentence of their own
    assert "0 bias findings (0 high severity)" in parts["Loops and bias"]
    assert "No bias findings" not in parts["Loops and bias"]
    # the understanding module is there because it moved (the layer's RMS and the concept tiers)
    assert "What moved from the early to the late third: layer 0 activation RMS" in parts["Understanding module"]


def test_late_source_run_log_has_the_posts_shape_and_two_follow_ups_from_the_store(join_run, tmp_path):
    home, run_id, _ = join_run
    markdown = Path(write_report(home, run_id, tmp_path)["markdown"]).read_text()
    parts = check_post_shape(markdown)
    follow_ups = bullets(parts["What's next"])
    assert len(follow_ups) >= 2
    # self-play is off in this run: whether the late sources surfaced in what the model writes is open
    assert any("meditations, philosophy joined" in f and "self\\_play.enabled" in f for f in follow_ups)


def test_synthesised_phase_log_has_the_posts_shape(tmp_path):
    synthesise_store(tmp_path / "home", "synthetic", steps=4000, layers=4, start_step=10_000)
    parts = check_post_shape(Path(write_report(tmp_path / "home", "synthetic", tmp_path / "out")["markdown"])
                             .read_text())
    assert len(bullets(parts["What's next"])) >= 2


def holm_by_hand(ps: list[float]) -> list[bool]:
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    passed = [False] * len(ps)
    for rank, i in enumerate(order):
        if ps[i] >= ALPHA / (len(ps) - rank):
            break
        passed[i] = True
    return passed


@pytest.mark.parametrize("fixture", ["tiny_run", "join_run"])
def test_every_coupling_in_the_log_passes_holm_over_all_the_pairs_tried(fixture, request, tmp_path):
    home, run_id, _ = request.getfixturevalue(fixture)
    found = couplings(gather(Store(home), run_id))
    assert found, "the run's signals give pairs to try"
    ps = [math.erfc(abs(math.atanh(c["partial"])) * math.sqrt(c["n"] - 4) / math.sqrt(2)) for c in found]
    assert [c["passes"] for c in found] == holm_by_hand(ps)
    markdown = Path(write_report(home, run_id, tmp_path)["markdown"]).read_text()
    shown = re.findall(r"^\| (.+?) \| (.+?) \| -?[\d.]+ \| -?[\d.]+ \| \d+ \|", section(markdown, "What we saw"),
                       re.MULTILINE)
    named = {(c["a"], c["b"]) for c in found if backed(c)}
    assert {(a.replace("\\", ""), b.replace("\\", "")) for a, b in shown} == named
    assert f"{len(found)} pairs of signals from different families were tried" in markdown


def test_holm_passes_only_what_survives_the_step_down():
    """0.02 would pass one test at 0.05, but is the second smallest of four: its bar is 0.05 / 3."""
    from phaselog.reports.couplings import holm

    found = [{"a": f"s{i}", "b": "t", "p": p} for i, p in enumerate([0.004, 0.02, 0.03, 0.5])]
    holm(found)
    assert [c["passes"] for c in found] == [True, False, False, False]
    assert found[0]["bar"] == pytest.approx(0.0125) and found[1]["bar"] == pytest.approx(0.05 / 3)


def test_a_sentence_said_once_is_not_said_again():
    blocks = [Heading(2, "TL;DR"), Bullets(["Loss fell to 3.5.", "Validation bpb 1.3 at step 14,000."]),
              Paragraph("Loss fell to 3.5. Then it held in 3.4-3.6."), Table(["a"], [["Loss fell to 3.5."]]),
              Bullets(["Validation bpb 1.3 at step 14,000"])]
    assert without_repeats(blocks) == blocks[:2] + [Paragraph("Then it held in 3.4-3.6."), blocks[3]]


def test_a_high_finding_that_did_not_pause_says_why_with_the_rule_and_its_numbers(tmp_path):
    home = tmp_path / "home"
    synthesise_store(home, "synthetic", steps=4000, layers=4, start_step=10_000)
    con = duckdb.connect(str(home / "phaselog.duckdb"))
    con.execute("ALTER TABLE loop_events ADD COLUMN text_key VARCHAR")
    con.execute("ALTER TABLE bias_events ADD COLUMN text_key VARCHAR")
    con.execute("ALTER TABLE bias_events ADD COLUMN discounted VARCHAR")
    # 16 windows of training text scanned at step 12,000, one with a high finding: 6% of 16, under the rule's 64
    con.executemany("INSERT INTO loop_events (run_id, step, source, item, text_key, is_loop) VALUES "
                    "('synthetic', 12000, 'data', ?, ?, false)", [[f"general@{k}", f"general@{k}"] for k in range(16)])
    con.execute("INSERT INTO bias_events (run_id, step, source, severity, category, terms, context, text_key) VALUES "
                "('synthetic', 12000, 'data', 'high', 'migration', '[\"immigrants\", \"criminals\"]', "
                "'immigrants are criminals', 'general@3')")
    con.close()
    markdown = Path(write_report(home, "synthetic", tmp_path / "out")["markdown"]).read_text()
    line = next(b for b in bullets(section(markdown, "Loops and bias")) if "immigrants are criminals" in b)
    assert line.endswith("did not pause: training text pauses only at a rate, and 1 of 16 scanned windows of "
                         "general since the last review had a high finding (6%; the rule needs more than 5% over at "
                         "least 64 windows with at least 3 flagged)")
    assert "the detector grades it derogatory" in line and "not a verdict" in line
    assert "step 12,000 (data)" in section(markdown, "What's next")

    # with the review pause off, the high reflection finding says that instead
    con = duckdb.connect(str(home / "phaselog.duckdb"))
    config = json.loads(con.execute("SELECT config_json FROM runs").fetchone()[0])
    config["review"]["enabled"] = False
    con.execute("UPDATE runs SET config_json = ?", [json.dumps(config)])
    con.execute("DELETE FROM reviews")
    con.close()
    markdown = Path(write_report(home, "synthetic", tmp_path / "off")["markdown"]).read_text()
    assert "emotional to reason\": the detector grades it derogatory (dehumanising, criminalising or contemptuous): " \
           "a detector finding to read, not a verdict; did not pause: the review pause is off (review.enabled: " \
           "false)" in markdown


def test_a_phase_log_judges_each_finding_by_the_review_settings_of_its_own_run():
    """The phase read as one run keeps each run's config: run 1 trained with the review pause off, run 2 (which
    continues it) with it on, so run 1's unpaused high finding is explained by run 1's rule, not run 2's."""
    def run(run_id, start, end, review_on, events):
        config = {"train": {"start_step": start}, "review": {"enabled": review_on}}
        return ReportData(run_id=run_id, first_step=start, last_step=end,
                          run={"run_id": run_id, "start_step": start, "config_json": json.dumps(config)},
                          segments=[], metrics={"step": np.arange(start + 1, end + 1, dtype=float)}, evals=[],
                          data_mix=[], bias_events=events, reviews=[])

    def high(run_id, step):
        return {"run_id": run_id, "step": step, "source": "reflection", "severity": "high", "text_key": None}
    phase = whole_phase([run("first", 0, 20, False, [high("first", 20)]),
                         run("second", 20, 40, True, [high("second", 40)])])
    first_finding, second_finding = phase.bias_events
    assert pause_note(phase, first_finding) == "did not pause: the review pause is off (review.enabled: false)"
    assert pause_note(phase, second_finding).startswith("did not pause: no review is recorded at step 40")
    assert (phase.first_step, phase.last_step, phase.run_ids) == (0, 40, ("first", "second"))
    assert phase.metrics["step"].tolist() == list(range(1, 41))
