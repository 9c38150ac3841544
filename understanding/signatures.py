"""Signatures of a reflection, the two the seed run saw plus the model's reading: repetition (seq-rep-4,
distinct-2, compression ratio), structured formatting as a fallback channel when language degrades (structure
characters, recurring motifs such as `0-0`, and whether the reflections of a step repeat one motif sequence),
and corpus uptake (how much of a reflection's content words are distinctive of each data source, and its uptake
score).

The repetition figures come from the loop detector (`understanding.loops`), so reflections and loop events
measure repetition the same way."""
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import numpy as np

from phaselog.model.uptake import uptake_score
from phaselog.understanding.loops import detect_loops

# brackets, dashes, asterisks, digits and the other marks of lists, tables and markup (not prose punctuation)
STRUCTURE_CHARS = frozenset("[](){}<>-*#_=|/\\:;~+0123456789")
MOTIF_SEQUENCE_LENGTH = 5
DISTINCTIVE_Z = 1.96  # a token is distinctive of a source when its log-odds z-score exceeds this
PRIOR_STRENGTH = 1000.0  # pseudo-counts of the pooled-corpus prior in the weighted log-odds


def is_structure(word: str) -> bool:
    """A word made at least half of structure characters: `0-0`, `**`, `[1]`, `---`, `12.`."""
    return bool(word) and 2 * sum(c in STRUCTURE_CHARS for c in word) >= len(word)


def formatting_score(text: str) -> float:
    """Share of the non-space characters that are structure characters."""
    chars = [c for c in text if not c.isspace()]
    return sum(c in STRUCTURE_CHARS for c in chars) / len(chars) if chars else 0.0


def formatting_token_share(token_texts: list[str]) -> float:
    """Share of tokens that are only structure characters and spaces (and not only spaces)."""
    marks = [t.strip() for t in token_texts]
    return sum(bool(m) and all(c in STRUCTURE_CHARS for c in m) for m in marks) / len(marks) if marks else 0.0


def motifs(text: str) -> dict[str, int]:
    """Structure words seen at least twice, most frequent first."""
    counts = Counter(w for w in text.split() if is_structure(w))
    return {motif: n for motif, n in counts.most_common() if n >= 2}


def motif_sequence(text: str) -> list[str]:
    return [w for w in text.split() if is_structure(w)][:MOTIF_SEQUENCE_LENGTH]


def motif_consistent(sequences: list[list[str]]) -> bool:
    """True when at least two reflections of a step, and at least half of them, share one non-empty sequence."""
    counts = Counter(tuple(s) for s in sequences if s)
    if not counts:
        return False
    top = counts.most_common(1)[0][1]
    return top >= 2 and 2 * top >= len(sequences)


def distinctive_z(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per source, the z-score of every token id's weighted log-odds in that source's training text against
    all other sources, with an informative Dirichlet prior from the pooled counts (Monroe, Colaresi and Quinn,
    "Fightin' Words", 2008). Needs two sources or more."""
    if len(counts) < 2:
        return {}
    pooled = sum(counts.values()).astype(np.float64)
    alpha = PRIOR_STRENGTH * (pooled + 0.01) / (pooled + 0.01).sum()
    alpha0 = alpha.sum()
    z = {}
    for name, mine in counts.items():
        mine = mine.astype(np.float64)
        rest = pooled - mine
        log_odds_mine = np.log((mine + alpha) / (mine.sum() + alpha0 - mine - alpha))
        log_odds_rest = np.log((rest + alpha) / (rest.sum() + alpha0 - rest - alpha))
        z[name] = (log_odds_mine - log_odds_rest) / np.sqrt(1 / (mine + alpha) + 1 / (rest + alpha))
    return z


@cache
def stop_words() -> frozenset[str]:
    lines = (Path(__file__).parent / "lexicons" / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def is_content(token_text: str) -> bool:
    """A token that carries a word of meaning: it has letters, and they are not a stop word (punctuation, digits,
    whitespace and "the" are out)."""
    letters = "".join(re.findall(r"[^\W\d_]+", token_text)).lower()
    return bool(letters) and letters not in stop_words()


def corpus_uptake(tokens: list[int], z: dict[str, np.ndarray], ratios: dict[str, np.ndarray], decode,
                  top: int = 5) -> dict[str, dict]:
    """For each source: the share of the reflection's content words (stop words and punctuation out) that are
    distinctive of it, how many content words there were, and the most frequent distinctive ones (decoded), for
    reading; and the uptake score over every token (model.uptake, which weighs a token by how distinctive it is),
    the number understanding/uptake.py calibrates into "surfaced" or "not yet"."""
    texts = {t: decode([t]) for t in set(tokens)}
    content = [t for t in tokens if is_content(texts[t])]
    uptake = {}
    for name, scores in z.items():
        hits = [t for t in content if scores[t] > DISTINCTIVE_Z]
        uptake[name] = {"share": len(hits) / len(content) if content else 0.0, "content_tokens": len(content),
                        "top": [texts[t] for t, _ in Counter(hits).most_common(top)],
                        "score": uptake_score(tokens, ratios[name])}
    return uptake


def reflection_signatures(text: str, tokens: list[int], decode, z: dict[str, np.ndarray],
                          ratios: dict[str, np.ndarray]) -> dict:
    """Every per-reflection figure stored with it (motif_consistent is per step and added by the caller)."""
    loops = detect_loops(text, tokens)
    return {
        "seq_rep_4": loops.seq_rep_4, "distinct_2": loops.distinct_2, "compression_ratio": loops.compression_ratio,
        "formatting_score": formatting_score(text),
        "formatting_token_share": formatting_token_share([decode([t]) for t in tokens]),
        "motifs": json.dumps(motifs(text), ensure_ascii=False),
        "motif_sequence": json.dumps(motif_sequence(text), ensure_ascii=False),
        "corpus_uptake": json.dumps(corpus_uptake(tokens, z, ratios, decode), ensure_ascii=False),
    }
