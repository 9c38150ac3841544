import io
import json
import time
from pathlib import Path

import pytest

from phaselog.understanding.loops import compression_threshold, detect_loops
from phaselog.understanding.scan import ScanInputError, iter_scan_inputs, scan_text

LABELLED = [json.loads(line) for line in (Path(__file__).parent / "data" / "loops_labelled.jsonl").open()]


def labelled(kind: str) -> list[str]:
    texts = [row["text"] for row in LABELLED if row["kind"] == kind]
    assert texts, kind
    return texts


def test_phrase_cycle_observe_it_is_a_loop():
    report = detect_loops("observe it, " + "or observe it, " * 12 + "or observe it.")
    assert report.is_loop and report.severity == "high"
    assert (report.unit, report.period) == ("token", 4)
    assert report.repeats >= 12


def test_bracketed_phrase_is_named_by_period_and_repeat_count():
    report = detect_loops("[Biode: high quality, quality, and durable] " * 162)
    assert report.severity == "high"
    assert report.excerpt.startswith("[[Biode: high quality")
    assert report.excerpt.endswith("11 tokens x 162")
    assert report.compression_ratio >= 10


def test_numbered_list_repeating_its_line_is_a_loop():
    report = detect_loops("1. observe it\n2. observe it\n3. observe it")
    assert report.is_loop
    assert (report.period, report.repeats) == (4, 3)


def test_lettered_list_repeating_its_line_is_a_loop():
    assert detect_loops("a) check the oven\nb) check the oven\nc) check the oven\nd) check the oven").is_loop


def test_single_token_repeated_is_a_loop():
    report = detect_loops("and then " + "the " * 60)
    assert report.is_loop and (report.period, report.unit) == (1, "token")
    assert report.repeats == 60


def test_score_motif_is_a_loop():
    assert detect_loops("Final scores this week: " + "0-0 " * 40).severity == "high"


def test_paragraph_repeated_five_times_is_a_loop_beyond_period_32():
    report = detect_loops(labelled("paragraph_repeat")[0])
    assert report.severity == "high"
    assert report.period > 32 and report.repeats == 5


def test_word_salad_alternating_two_words_is_a_loop():
    report = detect_loops("cat dog " * 50)
    assert report.severity == "high" and report.period == 2


def test_laughter_inside_one_word_is_found_over_characters():
    report = detect_loops("ha" * 100)
    assert report.is_loop and (report.unit, report.period) == ("char", 2)


def test_loop_at_the_end_of_long_text_is_located_by_its_span():
    prose = labelled("prose_essay")[0]
    text = prose + " " + "the model is " * 40
    report = detect_loops(text)
    assert report.severity == "medium"
    start, end = report.span
    assert start >= len(prose) - 20 and end == len(text) - 1
    assert 0.2 < report.loop_share < 0.5


def test_near_loop_that_drifts_each_time_is_caught_by_compression_and_repeated_4grams():
    subjects, places = ["the cat", "the dog", "a bird", "my friend"], ["the mat", "the rug", "the chair"]
    text = " ".join(f"{subjects[i * 7 % 4]} sat on {places[i * 5 % 3]} and looked at the door and then went "
                    f"to sleep again." for i in range(20))
    report = detect_loops(text)
    assert report.is_loop and report.period == 0
    assert report.excerpt.endswith("4-gram x 20")


def test_model_tokens_are_searched_too():
    prose = labelled("prose")[0]
    assert not detect_loops(prose).is_loop
    report = detect_loops(prose, tokens=[464, 2746] * 100)
    assert report.is_loop and (report.unit, report.period, report.repeats) == ("token", 2, 100)


def test_poem_with_refrain_is_not_a_loop():
    for poem in labelled("poem_refrain") + labelled("poem_refrain_2"):
        assert not detect_loops(poem).is_loop


def test_song_with_chorus_is_not_a_loop():
    for song in labelled("song_chorus") + labelled("song_hey"):
        report = detect_loops(song)
        assert not report.is_loop
        assert report.duplicate_line_fraction > 0.2  # the chorus is there, it just isn't a loop


def test_code_tables_and_lists_are_not_loops():
    for kind in ["python_code", "python_code_repetitive", "markdown_table", "markdown_table_wide", "csv",
                 "shopping_list", "numbered_list", "server_log", "legal_boilerplate"]:
        assert not detect_loops(labelled(kind)[0]).is_loop, kind


def test_times_table_is_not_a_loop_although_numbers_normalise_alike():
    report = detect_loops("\n".join(f"7 x {i} = {7 * i}" for i in range(1, 11)))
    assert not report.is_loop
    assert report.duplicate_line_fraction > 0.8  # after normalisation the lines are equal


def test_rules_and_leaders_are_not_loops():
    assert not detect_loops("# " + "-" * 77 + "\n# settings\nx = 1\n").is_loop
    assert not detect_loops("Chapter 1 " + "." * 60 + " 5\nChapter 2 " + "." * 60 + " 19").is_loop


def test_short_human_repetition_is_not_a_loop():
    for text in ["Location, location, location.", "Words, words, words.",
                 "Let it be, let it be, let it be, let it be\nWhisper words of wisdom, let it be"]:
        assert not detect_loops(text).is_loop, text


def test_compression_threshold_grows_with_length():
    assert compression_threshold(100) == 3.0
    assert compression_threshold(500) == 5.0
    assert compression_threshold(20_000) == 10.0


def test_human_prose_has_low_seq_rep_4_and_low_compression():
    report = detect_loops(labelled("prose_long")[0])
    assert report.seq_rep_4 < 0.08
    assert report.compression_ratio < 3
    assert report.distinct_2 > 0.8


def test_empty_text_is_not_a_loop():
    report = detect_loops("")
    assert not report.is_loop and report.excerpt == "" and report.span == (0, 0)


def test_report_is_json_serialisable():
    assert json.loads(json.dumps(detect_loops("of the " * 40).as_dict()))["severity"] == "high"


def test_20kB_text_is_scanned_well_under_50ms():
    normal = "\n\n".join(row["text"] for row in LABELLED if not row["is_loop"])
    text = (normal * 3)[:15_000] + "and then the model is " * 230
    timings = []
    for _ in range(5):
        # CPU time of this process: on a shared machine or CI, wall time mostly measures the neighbours
        started = time.process_time()
        detect_loops(text[:20_000])
        timings.append(time.process_time() - started)
    assert min(timings) < 0.05, timings


def test_labelled_set_precision_and_recall():
    truth = [row["is_loop"] for row in LABELLED]
    found = [detect_loops(row["text"]).is_loop for row in LABELLED]
    true_positives = sum(t and f for t, f in zip(truth, found))
    precision = true_positives / sum(found)
    recall = true_positives / sum(truth)
    print(f"loops: {len(LABELLED)} texts, precision {precision:.3f}, recall {recall:.3f}")
    assert sum(truth) >= 30 and len(truth) - sum(truth) >= 30
    assert precision >= 0.9 and recall >= 0.9


# the scan helper that the command line uses

def test_scan_text_reports_loops_and_bias():
    result = scan_text("Women are bad drivers. " + "observe it, or " * 10)
    assert result["loops"]["is_loop"]
    assert [finding["severity"] for finding in result["bias"]] == ["medium"]


def test_scan_inputs_from_txt_jsonl_and_stdin(tmp_path, monkeypatch):
    (tmp_path / "one.txt").write_text("one document\nover two lines")
    (tmp_path / "many.jsonl").write_text('{"id": "a", "text": "first"}\n\n{"text": "second"}\n')
    assert list(iter_scan_inputs(str(tmp_path / "one.txt"))) == [(str(tmp_path / "one.txt"),
                                                                   "one document\nover two lines")]
    assert list(iter_scan_inputs(str(tmp_path / "many.jsonl"))) == [("a", "first"),
                                                                     (f"{tmp_path / 'many.jsonl'}:3", "second")]
    monkeypatch.setattr("sys.stdin", io.StringIO("from a pipe"))
    assert list(iter_scan_inputs("-")) == [("stdin", "from a pipe")]


@pytest.mark.parametrize("line, problem", [('{"text": "ok"', "not valid JSON"),
                                           ('{"body": "no text"}', 'needs a "text" field')])
def test_bad_jsonl_line_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n")
    with pytest.raises(ValueError, match=rf"docs\.jsonl:2: {problem}"):
        list(iter_scan_inputs(str(path)))


def test_missing_scan_file_is_a_clear_error(tmp_path):
    with pytest.raises(ScanInputError, match="no such file"):
        list(iter_scan_inputs(str(tmp_path / "absent.txt")))
