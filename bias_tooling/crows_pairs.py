"""Keep CrowS-Pairs out of the bias tables (issue #39): CrowS-Pairs, and every set built from it (MGSD, EMGSD,
copies inside other repositories), must not be trained or scored on here.

CrowS-Pairs itself (Nangia, Vania, Bhalerao, Bowman, EMNLP 2020, https://github.com/nyu-mll/crows-pairs, commit
8aaac11, `data/crows_pairs_anonymized.csv`) is never committed. What is committed is
`data/crows_pairs_sha256.txt`: the first 16 hex digits of the sha256 of each of its 3,016 sentences, normalised as
the split is (public_sets.normalise), from which no sentence can be read back. tests/test_bias_tables.py checks that
no table's text, nor any sentence of it, has one of those hashes. An exact hash misses a sentence edited on its way
into another set, so the builder also looks, once, for near copies: a table sentence and a CrowS-Pairs sentence
sharing at least half the word trigrams of the longer of the two are printed. Run from a clone of that repository:

    python -m phaselog.bias_tooling.crows_pairs PATH/TO/CROWS-PAIRS bias_tooling/data/crows_pairs_sha256.txt"""
import csv
import hashlib
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import normalise, read_table, sentences

NEAR = 0.5


def fingerprint(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:16]


def crows_sentences(crows: Path) -> list[str]:
    with (crows / "data" / "crows_pairs_anonymized.csv").open(encoding="utf-8", newline="") as f:
        return sorted({row[column].strip() for row in csv.DictReader(f) for column in ("sent_more", "sent_less")})


def trigrams(text: str) -> set[tuple[str, ...]]:
    words = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in normalise(text)).split()
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def near_copies(texts: list[str], crows: list[str]) -> list[tuple[str, str, float]]:
    """(table sentence, CrowS-Pairs sentence, share) where they share at least NEAR of the word trigrams of the
    longer of the two (the shorter one's alone would pair "X are poor" with any longer sentence saying it)."""
    index: dict[tuple, set[int]] = {}
    crows_grams = [trigrams(sentence) for sentence in crows]
    for number, grams in enumerate(crows_grams):
        for gram in grams:
            index.setdefault(gram, set()).add(number)
    found = []
    for text in texts:
        for sentence in sentences(text):
            grams = trigrams(sentence)
            shared: dict[int, int] = {}
            for gram in grams:
                for number in index.get(gram, ()):
                    shared[number] = shared.get(number, 0) + 1
            for number, count in shared.items():
                share = count / max(len(grams), len(crows_grams[number]))
                if share >= NEAR:
                    found.append((sentence, crows[number], round(share, 2)))
    return found


def main(argv: list[str]) -> None:
    crows, out = Path(argv[0]), Path(argv[1])
    sentences_of_crows = crows_sentences(crows)
    out.write_text("".join(sorted(fingerprint(s) + "\n" for s in sentences_of_crows)), encoding="utf-8")
    print(f"{len(sentences_of_crows)} CrowS-Pairs sentences -> {out}")
    for table in sorted(out.parent.glob("bias_*.jsonl")):
        texts = [row["text"] for row in read_table(table)]
        copies = near_copies(texts, sentences_of_crows)
        print(f"{table.name}: {len(texts)} texts, {len(copies)} near copies of a CrowS-Pairs sentence")
        for sentence, crows_sentence, share in copies[:20]:
            print(f"  {share}: {sentence!r} ~ {crows_sentence!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
