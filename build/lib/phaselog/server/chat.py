"""Chat with a run's latest good checkpoint on the CPU, while training goes on in another process. The model is a
small base GPT with no chat tuning, so the conversation is laid out as plain-text turns ("User: ..." and
"Model: ...") and the reply is cut where the model starts the next turn. Before each reply the checkpoint folder
is listed (cheap, no polling thread) and a newer good checkpoint is loaded; atomic checkpoints make that safe."""
import random
import threading
import time
from pathlib import Path

from phaselog.core.errors import PhaselogError
from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.checkpoint import latest_good_checkpoint, list_checkpoints, load_model
from phaselog.model.engine import Sampling, context_limit, generate
from phaselog.model.gpt import GPT

SPEAKERS = {"user": "User", "model": "Model"}


def conversation_text(history: list[dict], prompt: str) -> str:
    """The turns so far and the new prompt, ending where the model's turn begins."""
    turns = [f"{SPEAKERS[t['role']]}: {t['text'].strip()}" for t in history]
    return "\n".join(turns + [f"User: {prompt.strip()}", "Model:"])


def cut_at_next_turn(text: str) -> str:
    ends = [i for i in (text.find(f"\n{name}:") for name in SPEAKERS.values()) if i >= 0]
    return (text[:min(ends)] if ends else text).strip()


def conversation_entry(messages: list[dict], step: int) -> str:
    """A saved chat as journal text: both sides, and the checkpoint step the model answered from."""
    turns = [f"{SPEAKERS[m['role']]}: {m['text'].strip()}" for m in messages]
    return "\n\n".join([f"Conversation with the model at checkpoint step {step} (phaselog explore)"] + turns)


class ChatModel:
    """One run's model. One reply at a time: the server's worker threads share the model and its reloads."""

    def __init__(self, run_dir: Path, model_config):
        self.run_dir = Path(run_dir)
        self.model_config = model_config
        self.lock = threading.Lock()
        self.tokenizer: Tokenizer | None = None
        self.model: GPT | None = None
        self.step: int | None = None
        self.path: Path | None = None
        self.listed: int | None = None  # newest step in the folder when last looked: hash only when it changes

    def refresh(self) -> None:
        """Load the newest good checkpoint when the folder shows a step not looked at yet."""
        folder = self.run_dir / "checkpoints"
        listing = list_checkpoints(folder)
        newest = listing[-1].step if listing else None
        if newest == self.listed:
            return
        info = latest_good_checkpoint(folder)
        if info is not None and info.step != self.step:
            try:
                self.model, self.tokenizer = load_model(self.run_dir, self.model_config, info.path)
            except FileNotFoundError:
                return  # pruned by training meanwhile: the next request looks again
            self.step, self.path = info.step, info.path
        self.listed = newest

    def checkpoint(self) -> dict:
        with self.lock:
            self.refresh()
            return {"step": self.step, "path": str(self.path) if self.path else None}

    def reply(self, history: list[dict], prompt: str, temperature: float, top_k: int | None,
              max_new_tokens: int) -> dict:
        with self.lock:
            self.refresh()
            if self.model is None:
                raise PhaselogError(f"no good checkpoint in {self.run_dir / 'checkpoints'} yet: wait for the run's "
                                    "first checkpoint (every train.checkpoint_every steps)")
            started = time.perf_counter()
            ids = self.tokenizer.encode(conversation_text(history, prompt))
            # the model's positions hold prompt + reply: keep the newest turns, and at least half for the reply
            window = context_limit(self.model) - 1  # one position for BOS
            new = min(max_new_tokens, window - min(len(ids), window // 2))
            ids = [self.tokenizer.bos_id] + ids[max(0, len(ids) - (window - new)):]
            # BOS starts a new document: the reply is over
            sampling = Sampling(temperature, top_k, None, new, (self.tokenizer.bos_id,), random.randrange(2 ** 31))
            tokens = generate(self.model, [ids], sampling)[0]
            return {"reply": cut_at_next_turn(self.tokenizer.decode(tokens)), "step": self.step,
                    "tokens": len(tokens), "seconds": time.perf_counter() - started}
