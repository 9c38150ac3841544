"""The modern scorer: a second learned head beside the book scorer, for modern crowd-written text (issue #39).

The book scorer (bias_scorer.py) learned from period books and reads modern hate and Reddit stereotypes poorly
(ToxiGen's dev explicit hate: 18 of 170 found by it alone); mixing the public sets into its one head pulled the
books down (v1, docs/detectors.md). So this head learns the modern register on its own: the same all-MiniLM-L6-v2
encoder, the same frozen lower layers (0-3) whose output the book scorer computes anyway, then its own two tuned
top layers and head. A gated sentence costs the book scorer's six layers plus two. Its weights and card
(lexicons/bias_modern.v1.*) are built, bit for bit, by bias_tooling/train_modern_scorer.py from public dev halves
only; its threshold was picked on their inner held-out rows (docs/detectors.md, "The modern scorer").
"""
import functools
import hashlib
import json

import torch

from phaselog.core.errors import PhaselogError
from phaselog.understanding.bias_lexicon import LEXICONS
from phaselog.understanding.bias_scorer import Assessment, BiasScorer, Head, assessments, first_tuned_layer, load_scorer
from phaselog.understanding.minilm import (LAYERS, WIDTH, Layer, layer_state, mean_pool, packed_layers, packed_pooled,
                                           read_safetensors)

MODERN_VERSION = "v1"
# a modern finding needs a sentence of at least this many words: the head learned from whole sentences and scores
# a fragment of a list split as a sentence high ("towards thy wife", Meditations: 0.995, a false alarm); the rule
# costs the held-out HateCheck cases like "Ihate gay people" (docs/detectors.md, "The modern scorer")
MIN_WORDS = 4
WEIGHTS = LEXICONS / f"bias_modern.{MODERN_VERSION}.safetensors"
CARD = LEXICONS / f"bias_modern.{MODERN_VERSION}.json"


class ModernScorer(torch.nn.Module):
    """Its own top layers and head over the encoder's frozen lower layers."""

    def __init__(self, tuned: dict[str, torch.Tensor]):
        super().__init__()
        self.first_tuned = first_tuned_layer(tuned)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(self.first_tuned, LAYERS))
        for offset, layer in enumerate(self.layers):
            layer.load_state_dict(layer_state(tuned, self.first_tuned + offset))
        self.head = Head(WIDTH)
        self.head.load_state_dict({name[len("head."):]: t.float() for name, t in tuned.items()
                                   if name.startswith("head.")})

    def logits(self, lower: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """From the frozen layers' output of a padded batch to the head's logits: what training runs."""
        keep = mask[:, None, None, :].bool()
        for layer in self.layers:
            lower = layer(lower, keep)
        return self.head(mean_pool(lower.float(), mask))

    def packed_logits(self, lower: torch.Tensor, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The same from the frozen layers' packed output (minilm.MiniLM.packed_states), as a scan reads."""
        return self.head(packed_pooled(packed_layers(self.layers, lower, lengths), lengths))

    @torch.inference_mode()
    def assess_both(self, sentences: list[str], batch_size: int = 64,
                    book: BiasScorer | None = None) -> list[tuple[Assessment, Assessment]]:
        """Each sentence's (book, modern) assessment: the encoder's lower layers run once, packed, then each
        head's own top layers. The book half is BiasScorer.assess's, to the bit (the same steps, the same batches)."""
        book = book or load_scorer()
        if book.first_tuned != self.first_tuned or book.marks:
            raise PhaselogError("the modern head shares the lower layers of an unmarked book scorer tuning the same "
                                "top layers (a mention scorer reads other sentences)")
        found = []
        for start in range(0, len(sentences), batch_size):
            lower, lengths = book.encoder.packed_states(book.pieces(sentences[start:start + batch_size]),
                                                        self.first_tuned)
            found += zip(assessments(*book.packed_logits(lower, lengths)),
                         assessments(*self.packed_logits(lower, lengths)))
        return found


def card() -> dict:
    return json.loads(CARD.read_text(encoding="utf-8"))


def threshold() -> float:
    """The probability from which the modern head calls a sentence endorsed: picked on inner held-out dev rows."""
    return card()["threshold"]


@functools.cache
def load_modern() -> ModernScorer:
    """The shipped modern head, once per process, checked against its card's sha256; read in bf16 as the book
    scorer is (its head in fp32)."""
    if not WEIGHTS.is_file():
        raise PhaselogError(f"{WEIGHTS} is missing: rebuild it with the command in docs/detectors.md")
    if hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() != card()["weights_sha256"]:
        raise PhaselogError(f"{WEIGHTS} does not match the sha256 in {CARD.name}: restore it from git or retrain")
    modern = ModernScorer(read_safetensors(WEIGHTS))
    modern.layers.to(torch.bfloat16)
    return modern.eval()
