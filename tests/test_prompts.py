import pytest

from phaselog.cli import main
from phaselog.core.errors import PhaselogError
from phaselog.model.prompts import check_prompts_fit, list_prompts, load_prompt, max_prompt_tokens


def write_prompt(folder, kind, version, text, notes="a note"):
    (folder / kind).mkdir(parents=True, exist_ok=True)
    (folder / kind / f"{version}.md").write_text(f"---\nversion: {version}\nnotes: {notes}\n---\n{text}\n")


def test_registry_lists_the_shipped_versions_with_notes_and_word_counts():
    prompts = {p.version: p for p in list_prompts("reflection")}
    assert {"v1.3", "v1.4"} <= set(prompts)
    v14 = prompts["v1.4"]
    assert v14.notes and v14.words == len(v14.text.split())
    # the body is the exact text the model continues: no front matter, no trailing newline
    assert not v14.text.startswith("---") and not v14.text.endswith("\n")


def test_unknown_prompt_version_names_the_field_and_the_known_versions(tiny_config):
    config = tiny_config()
    config.self_play.prompt_version = "v9.9"
    with pytest.raises(PhaselogError, match=r"self_play.prompt_version.*v9.9.*v1.3, v1.4"):
        check_prompts_fit(config)


def test_prompt_longer_than_the_context_is_refused_before_training(tiny_config, tmp_path):
    write_prompt(tmp_path, "reflection", "v2.0", " ".join(["word"] * 40))
    config = tiny_config()
    config.self_play.prompts_dir = str(tmp_path)
    config.self_play.prompt_version = "v2.0"
    with pytest.raises(PhaselogError, match=r"v2.0 is 41 tokens at least.*seq_len 32 allows 24"):
        check_prompts_fit(config)
    assert max_prompt_tokens(32) == 24


def test_framing_counts_toward_the_prompt_length(tiny_config, tmp_path):
    write_prompt(tmp_path, "reflection", "v2.0", "I think")
    write_prompt(tmp_path, "framing", "calm", " ".join(["calm"] * 30))
    config = tiny_config()
    config.self_play.prompts_dir = str(tmp_path)
    config.self_play.prompt_version = "v2.0"
    check_prompts_fit(config)
    config.self_play.framing_after_review = "calm"
    with pytest.raises(PhaselogError, match="with framing calm"):
        check_prompts_fit(config)


def test_front_matter_version_must_match_the_file_name(tmp_path):
    write_prompt(tmp_path, "reflection", "v1.5", "hello")
    path = tmp_path / "reflection" / "v1.5.md"
    path.write_text(path.read_text().replace("version: v1.5", "version: v1.6"))
    with pytest.raises(PhaselogError, match="make them agree"):
        load_prompt("reflection", "v1.5", tmp_path)


def test_run_with_unknown_prompt_version_exits_non_zero_with_one_line(shared_corpus, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  corpus_dir: {shared_corpus}\n  sources:\n    - name: g\n      path: general\n")
    code = main(["run", str(config), "--home", str(tmp_path / "home"), "--set", "self_play.prompt_version=v0"])
    assert code == 2
    assert "self_play.prompt_version: no prompt 'v0'" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()  # nothing started
