import pytest

from phaselog.cli import main
from phaselog.core.journal import MAX_ENTRY_CHARS, add_entry, list_entries
from phaselog.core.runs import register_run
from phaselog.core.store import Store

ODD = "naïve 🧠\u200d🔥 — 日本語 ﷽ e\u0301 \u202eRTL\u202c \x00nul\ttab\r\nCRLF\n\n  trailing  "


@pytest.fixture
def store_with_run(tiny_config, tmp_path):
    store = Store(tmp_path)
    store.migrate()
    register_run(store, "journal-run", tiny_config(), tmp_path / "journal-run", "cpu", 1.0)
    return store


def test_journal_round_trips_odd_unicode_and_long_text_exactly(store_with_run):
    long_text = ("∑ long entry line\n" * 6000)[:MAX_ENTRY_CHARS]
    add_entry(store_with_run, "journal-run", ODD, step=7, tags=["bias", "check-in"])
    add_entry(store_with_run, "journal-run", long_text, step=3)
    entries = list_entries(store_with_run, "journal-run")
    assert [e["step"] for e in entries] == [3, 7]
    assert entries[0]["text"] == long_text and len(entries[0]["text"]) == MAX_ENTRY_CHARS
    assert entries[1]["text"] == ODD
    assert entries[1]["tags"] == ["bias", "check-in"] and entries[1]["author"] == "human"


def test_step_defaults_to_the_runs_latest_step(store_with_run):
    assert add_entry(store_with_run, "journal-run", "before training")["step"] == 0
    store_with_run.replace_rows("metrics", [{"run_id": "journal-run", "step": 40, "loss": 3.0}], "false", [])
    assert add_entry(store_with_run, "journal-run", "after some steps")["step"] == 40


def test_list_filters_by_author_and_step(store_with_run):
    for step in (10, 20, 30):
        add_entry(store_with_run, "journal-run", f"note {step}", step=step)
    add_entry(store_with_run, "journal-run", "the model says", step=20, author="model")
    assert [e["text"] for e in list_entries(store_with_run, since_step=20, author="human")] == ["note 20", "note 30"]
    assert [e["text"] for e in list_entries(store_with_run, author="model")] == ["the model says"]


def test_cli_add_and_list_show_step_badges(store_with_run, capsys):
    home = str(store_with_run.home)
    assert main(["journal", "add", "--run", "journal-run", "--step", "1500", "--tag", "check-in",
                 "--home", home, "loss looks calm"]) == 0
    assert main(["journal", "list", "--run", "journal-run", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "[step   1,500] human journal-run" in out and "#check-in" in out and "    loss looks calm" in out


@pytest.mark.parametrize("args, message", [
    (["--run", "no-such-run", "hello"], "unknown run id 'no-such-run'"),
    (["--run", "journal-run", "  \n "], "is empty"),
    (["--run", "journal-run", "x" * (MAX_ENTRY_CHARS + 1)], "the limit is 100,000"),
    (["--run", "journal-run", "--step", "-5", "hello"], "steps are 0 or more"),
])
def test_bad_journal_entries_exit_non_zero_with_a_clear_message(store_with_run, capsys, args, message):
    assert main(["journal", "add", "--home", str(store_with_run.home), *args]) == 2
    assert message in capsys.readouterr().err
    assert list_entries(store_with_run) == []
