"""The prompt registry: self-play prompts are markdown files with a YAML front matter (version, notes) under
`prompts/reflection/<version>.md`; the framing put before them after a review pause lives in
`prompts/framing/<name>.md`. The body below the front matter is the exact text the model continues.

A prompt must leave the reflection room in the model's context, and that is checked before training starts:
from the config alone with a lower bound (every whitespace-separated word is at least one token, because the
tokenizer's split pattern never joins two words), and exactly with the run's tokenizer once data prep made it."""
from dataclasses import dataclass
from pathlib import Path

import yaml

from phaselog.core.errors import PhaselogError

CHECKOUT_PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
KINDS = ("reflection", "framing")


@dataclass(frozen=True)
class Prompt:
    kind: str
    version: str
    notes: str
    text: str
    path: Path

    @property
    def words(self) -> int:
        return len(self.text.split())


def prompts_root(self_play_config) -> Path:
    return Path(self_play_config.prompts_dir).expanduser() if self_play_config.prompts_dir else CHECKOUT_PROMPTS


def parse_prompt(path: Path, kind: str) -> Prompt:
    raw = path.read_text(encoding="utf-8")
    header, body = {}, raw
    if raw.startswith("---\n"):
        end = raw.find("\n---\n", 4)
        if end < 0:
            raise PhaselogError(f"{path}: the front matter opened by '---' is never closed by a '---' line")
        try:
            header = yaml.safe_load(raw[4:end]) or {}
        except yaml.YAMLError as err:
            raise PhaselogError(f"{path}: front matter is not valid YAML: {err}") from None
        body = raw[end + len("\n---\n"):]
    # one trailing newline is the file's, not the prompt's: the model continues right after the last word
    text = body.strip("\n")
    if not text.strip():
        raise PhaselogError(f"{path}: the prompt text below the front matter is empty")
    version = str(header.get("version", path.stem))
    if version != path.stem:
        raise PhaselogError(f"{path}: front matter says version {version!r} but the file is named {path.stem!r}; "
                            "make them agree")
    return Prompt(kind, version, str(header.get("notes", "")).strip(), text, path)


def list_prompts(kind: str, root: Path = CHECKOUT_PROMPTS) -> list[Prompt]:
    return [parse_prompt(p, kind) for p in sorted((root / kind).glob("*.md"))]


def load_prompt(kind: str, version: str, root: Path = CHECKOUT_PROMPTS) -> Prompt:
    path = root / kind / f"{version}.md"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted((root / kind).glob("*.md"))) or "none"
        field = "self_play.prompt_version" if kind == "reflection" else "self_play.framing_after_review"
        raise PhaselogError(f"{field}: no prompt {version!r} in {root / kind} (known: {known})")
    return parse_prompt(path, kind)


def self_play_prompts(self_play_config) -> list[tuple[Prompt | None, Prompt]]:
    """(framing, prompt) pairs the config can use: without framing, and with the after-review one if set."""
    root = prompts_root(self_play_config)
    prompt = load_prompt("reflection", self_play_config.prompt_version, root)
    pairs = [(None, prompt)]
    if self_play_config.framing_after_review:
        pairs.append((load_prompt("framing", self_play_config.framing_after_review, root), prompt))
    return pairs


def prompt_text(framing: Prompt | None, prompt: Prompt) -> str:
    return f"{framing.text}\n\n{prompt.text}" if framing else prompt.text


def max_prompt_tokens(seq_len: int) -> int:
    # at least a quarter of the trained context is left for the reflection itself
    return seq_len * 3 // 4


def check_prompts_fit(config, tokenizer=None) -> None:
    """PhaselogError when a prompt version is unknown or a prompt (with its framing, and BOS) is too long for
    model.seq_len; exact with `tokenizer`, a lower bound without."""
    if not config.self_play.enabled:
        return
    limit = max_prompt_tokens(config.model.seq_len)
    for framing, prompt in self_play_prompts(config.self_play):
        text = prompt_text(framing, prompt)
        tokens = 1 + (len(tokenizer.encode(text)) if tokenizer else len(text.split()))
        if tokens > limit:
            what = f"prompt {prompt.version}" + (f" with framing {framing.version}" if framing else "")
            counted = "tokens" if tokenizer else "tokens at least"
            raise PhaselogError(
                f"self_play: {what} is {tokens} {counted} (with BOS) but model.seq_len {config.model.seq_len} "
                f"allows {limit} (three quarters of the context); shorten {prompt.path} or raise model.seq_len")
