"""The command line: bad inputs get one clear line and a non-zero exit; SQL is read-only."""
import json
import signal

import pytest
import yaml

from phaselog.cli import main
from phaselog.core.store import Store
from tests.conftest import tiny_config_dict


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path, data) -> str:
    path = tmp_path / "phase.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_missing_config_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", str(tmp_path / "nope.yaml"), "--home", str(tmp_path))
    assert code == 2 and "config file not found" in err and "nope.yaml" in err


def test_unknown_key_names_the_field(capsys, tmp_path, shared_corpus):
    data = tiny_config_dict(shared_corpus)
    data["train"]["learning_rate"] = 0.1
    code, _, err = run_cli(capsys, "run", write_config(tmp_path, data), "--home", str(tmp_path))
    assert code == 2
    assert "train.learning_rate: unknown key" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_value_from_set_override_names_the_field(capsys, tmp_path, shared_corpus):
    path = write_config(tmp_path, tiny_config_dict(shared_corpus))
    code, _, err = run_cli(capsys, "run", path, "--set", "train.batch_size=-3", "--home", str(tmp_path))
    assert code == 2 and "train.batch_size" in err and "greater than 0" in err


@pytest.mark.parametrize("general, review, step", [
    ({"end_step": 30}, {}, 30),  # general leaves at 30, after philosophy (steps 20-24) has left
    ({}, {"counterexample_source": "general"}, 0),  # the only source before step 20 is held back for a review
])
def test_a_step_with_no_source_in_the_mix_is_a_config_error(capsys, tmp_path, shared_corpus, general, review, step):
    data = tiny_config_dict(shared_corpus)
    data["data"]["sources"][0].update(general)
    data["data"]["sources"][1]["end_step"] = 25 if general else None
    data["review"] = review
    code, _, err = run_cli(capsys, "run", write_config(tmp_path, data), "--home", str(tmp_path))
    assert code == 2 and f"no source is in the mix at step {step}" in err
    assert ("counterexample_source 'general'" in err) == bool(review)


def test_missing_corpus_directory(capsys, tmp_path, shared_corpus):
    data = tiny_config_dict(shared_corpus)
    data["data"]["corpus_dir"] = str(tmp_path / "no-corpus")
    code, _, err = run_cli(capsys, "run", write_config(tmp_path, data), "--home", str(tmp_path))
    assert code == 2 and "no-corpus" in err and "does not exist" in err


def test_resume_of_unknown_run(capsys, tiny_run):
    home, _, _ = tiny_run
    code, _, err = run_cli(capsys, "resume", "no-such-run", "--home", str(home))
    assert code == 2 and "unknown run id 'no-such-run'" in err


def test_sql_formats(capsys, tiny_run):
    home, run_id, _ = tiny_run
    query = "select max(step) as last, count(*) as n from metrics"
    code, out, _ = run_cli(capsys, "sql", query, "--home", str(home), "--format", "json")
    assert code == 0 and json.loads(out) == [{"last": 60, "n": 60}]
    code, out, _ = run_cli(capsys, "sql", query, "--home", str(home), "--format", "csv")
    assert out.splitlines() == ["last,n", "60,60"]
    code, out, _ = run_cli(capsys, "sql", query, "--home", str(home))
    assert "last" in out.splitlines()[0] and "(1 row)" in out


@pytest.mark.parametrize("statement", ["delete from metrics", "drop table runs",
                                       "insert into evals values ('x', 1, 'y', 2)"])
def test_sql_refuses_writes(capsys, tiny_run, statement):
    home, _, _ = tiny_run
    code, _, err = run_cli(capsys, "sql", statement, "--home", str(home))
    assert code == 2 and "read-only" in err
    assert Store(home).query("select count(*) from metrics")[1] == [(60,)]


def test_sql_without_a_store(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sql", "select 1", "--home", str(tmp_path))
    assert code == 2 and "no store" in err


def test_help_describes_phaselog_in_whole_sentences(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    description = capsys.readouterr().out.split("\n\n")[1]
    assert description.startswith("Train a small GPT") and description.rstrip().endswith(".")


def test_a_stop_signal_that_landed_inside_a_checkpoint_save_is_logged_without_its_traceback():
    """SIGTERM inside torch.save: Prefect's handler raises TerminationSignal there, the zip writer replaces it with
    its own RuntimeError ("unexpected pos"), and Prefect logs that with its traceback (seen in CI, issue 42)."""
    import logging

    from prefect.exceptions import TerminationSignal

    from phaselog.cli import NoTracebackForUserErrors

    try:
        try:
            raise TerminationSignal(signal=15)
        except TerminationSignal:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 342144 vs 342096")
    except RuntimeError as err:
        stopped = logging.LogRecord("prefect", logging.ERROR, __file__, 1, "Encountered exception", (),
                                    (RuntimeError, err, err.__traceback__))
    assert NoTracebackForUserErrors().filter(stopped) and stopped.exc_info is None
    try:
        raise RuntimeError("a bug")
    except RuntimeError as err:
        bug = logging.LogRecord("prefect", logging.ERROR, __file__, 1, "Encountered exception", (),
                                (RuntimeError, err, err.__traceback__))
    assert NoTracebackForUserErrors().filter(bug) and bug.exc_info is not None  # tracebacks are for bugs


def test_prompt_path_descriptions_keep_their_placeholders_for_the_prefect_form():
    from phaselog.core.config import PhaseConfig

    schema = json.dumps(PhaseConfig.model_json_schema())
    # the form renders descriptions as markdown: a bare <version> would be swallowed as an HTML tag
    assert "`prompts/reflection/<version>.md`" in schema and "`prompts/framing/<name>.md`" in schema


def test_a_termination_signal_hidden_behind_another_error_still_names_the_signal():
    """A SIGTERM inside torch.save raised Prefect's TerminationSignal in the zip writer, whose own "unexpected pos"
    error replaced it (seen in CI): the command must still end as stopped by SIGTERM, not as a failure."""
    from prefect.exceptions import TerminationSignal

    from phaselog.cli import termination_signal_in

    try:
        try:
            raise TerminationSignal(signal.SIGTERM)
        except TerminationSignal:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 276416 vs 276368")
    except RuntimeError as err:
        hidden = err
    assert termination_signal_in(hidden) == signal.SIGTERM
    assert termination_signal_in(RuntimeError("a plain failure")) is None
