"""Repetition loops in what the model writes.

A small GPT that degrades falls into loops: "observe it, or observe it, or ...", one bracketed phrase 162
times, a numbered list that repeats its line, one token over and over, a paragraph pasted five times.
Human text repeats too (refrains, choruses, tables, code), so no single signal decides. The signals:

- Periodic runs (the main signal). Over word tokens (and model tokens when given) and over characters, for
  every period 1..32, we find maximal stretches where unit i equals unit i+period. Before that, numbers
  become "0" and list markers ("3.", "b)", "iv.") become "0.", so "1. observe it / 2. observe it" is periodic.
  Periods above 32 tokens (a repeated paragraph) are tried only where repeated 4-grams keep the same distance.
  A run counts as a loop run when it is one of:
    - a phrase repeated >= 5 times over >= 32 chars (humans stop at three or four: "location, location,
      location", "let it be, let it be, let it be, let it be");
    - a whole line repeated >= 3 times in a row, the line having >= 2 words (the numbered-list loop);
    - a block of more than 32 tokens repeated >= 3 times in a row (nobody pastes a paragraph three times);
    - a unit made mostly of digits and symbols ("0-0 ", "!") only if it repeats literally, not just after
      number normalisation, >= 8 times over >= 100 chars: "7 x 1 = 7 / 7 x 2 = 14" is a times table and a
      "|---|---|" rule is a table, not loops.
- loop_share: the share of the text's characters covered by loop runs.
- compression_ratio = len(utf8) / len(zlib(utf8)). Human text stays near 1-3 at any length; a perfectly
  periodic text of n bytes compresses to roughly 20 + 3n/258 bytes, so its ratio grows with n. The threshold
  therefore grows with length: n/100, kept between 3 (below ~300 bytes zlib's own overhead hides any loop)
  and 10 (long loops score >= 10).
- seq_rep_4 = 1 - unique 4-grams / all 4-grams over word tokens (human text ~0.005-0.08; a chorus sung three
  times reaches ~0.4) and duplicate_line_fraction (lines of >= 8 chars seen before; choruses reach ~0.5).

Severity:
- high: loop runs cover >= half the text (the loop has taken over);
- medium: they cover >= 20%, or one run repeats >= 10 times, or the text is far too compressible for its
  length (ratio >= threshold) while repeating its 4-grams or lines (seq_rep_4 or duplicate lines >= 0.5),
  which catches near-loops that drift slightly each time;
- low: a loop run exists but is a small part of the text;
- none otherwise. is_loop is severity != "none".
"""

import re
import zlib
from array import array
from collections import Counter
from dataclasses import asdict, dataclass

MAX_PERIOD = 32
MIN_REPEATS = 3  # a run is periodic only from three copies on; the rules above ask for more where needed
PHRASE_MIN_REPEATS = 5
PHRASE_MIN_CHARS = 32
SYMBOL_MIN_REPEATS = 8
SYMBOL_MIN_CHARS = 100
MANY_REPEATS = 10
HIGH_SHARE = 0.5
MEDIUM_SHARE = 0.2
DENSE_REPETITION = 0.5
DUPLICATE_LINE_MIN_CHARS = 8

# A list marker at the start of a line ("12.", "b)", "iv."), a free-standing number ("3.14", "1,000", but
# not the 1 in "test_1" or "v1"), or whitespace other than a lone space or newline (those stay as they are,
# and skipping them keeps the number of Python-level matches small).
NORMALISE = re.compile(
    r"(?P<marker>\b(?:\d+|[A-Za-z]|[ivx]{1,4})[.)](?=[ \t]))"
    r"|(?P<number>(?<![\w.])\d+(?:[.,]\d+)*(?!\w))"
    r"|(?P<space>\s{2,}|[^\S \n])"
)
WORD_TOKEN = re.compile(r"\w+|[^\w\s]")
LETTER = re.compile(r"[^\W\d_]")
NOT_SPACE = re.compile(r"\S")
NON_ZERO_BYTE = re.compile(rb"[^\x00]")


@dataclass
class LoopReport:
    is_loop: bool
    severity: str  # "none" | "low" | "medium" | "high"
    period: int  # of the strongest run, in tokens if found over tokens, else chars; 0 if none
    unit: str  # "token" | "char" | ""
    repeats: int
    span: tuple[int, int]  # char offsets of the strongest run in the original text (best effort)
    loop_share: float
    duplicate_line_fraction: float
    compression_ratio: float
    seq_rep_4: float
    distinct_2: float
    excerpt: str  # names the loop: "[Biode: high quality, ...] 7 tokens x 162"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class PeriodicRun:
    unit: str  # "token" | "char"
    period: int
    repeats: int
    start: int  # char offsets in the original text
    end: int
    first_unit: str  # the text of one period, as written

    @property
    def chars(self) -> int:
        return self.end - self.start


def normalise(text: str) -> tuple[str, list[int]]:
    """Numbers -> "0", line-start list markers -> "0.", whitespace runs -> one space or newline.

    Also returns, for each normalised char, where its piece starts in the original text, plus a final
    len(text), so that normalised span [i, j) is original span [starts[i], starts[j]).
    """
    pieces, starts, done, line_start = [], [], 0, True
    for m in NORMALISE.finditer(text):
        between = text[done:m.start()]
        pieces.append(between)
        starts.extend(range(done, m.start()))
        at_line_start = between.endswith("\n") if between else line_start
        if m.group("space"):
            new = "\n" if "\n" in m.group() else " "
        elif m.group("number"):
            new = "0"
        elif at_line_start:
            new = "0."
        else:
            new = re.sub(r"\d+", "0", m.group())  # "in 2012. Then" stays a number, "a. " stays text
        pieces.append(new)
        starts.extend([m.start()] * len(new))
        line_start = new.endswith("\n") or (at_line_start and not new.strip())  # indentation keeps it
        done = m.end()
    pieces.append(text[done:])
    starts.extend(range(done, len(text) + 1))
    return "".join(pieces), starts


def periodic_runs(units: bytes, periods) -> list[tuple[int, int, int]]:
    """Maximal runs (start, end, period) of 4-byte units that repeat at least MIN_REPEATS times.

    For each period p, XOR-ing the sequence with itself shifted by p units gives zero bytes exactly where
    unit i equals unit i+p; Python's big integers and bytes.find do this in C, so 32 periods over a 20 kB
    text take a few milliseconds instead of 640k Python comparisons.
    """
    n = len(units) // 4
    whole = int.from_bytes(units, "little")
    runs = []
    for p in periods:
        if MIN_REPEATS * p > n:
            continue
        diff = (whole ^ (whole >> (32 * p))).to_bytes(4 * n, "little")[: 4 * (n - p)]
        need = bytes(4 * (MIN_REPEATS - 1) * p)
        pos = diff.find(need)
        while pos != -1:
            nonzero = NON_ZERO_BYTE.search(diff, pos)
            stop = nonzero.start() if nonzero else len(diff)
            # zero bytes can start or stop mid-unit when two units differ only in one byte
            first, last = -(-pos // 4), stop // 4
            if last - first >= (MIN_REPEATS - 1) * p:
                runs.append((first, last + p, p))
            pos = diff.find(need, stop)
    return runs


def long_periods(ids: list[int]) -> tuple[list[int], float, Counter]:
    """Periods above MAX_PERIOD worth trying, seq_rep_4, and the 4-gram counts.

    In a block repeated k times, every 4-gram's previous occurrence is one block back, so one distance
    d shows up about (k-1) x d times; a chorus between verses shows its distance only chorus-length times.
    """
    all_grams = list(zip(ids, ids[1:], ids[2:], ids[3:]))
    last, distances = {}, Counter()
    for i, gram in enumerate(all_grams):
        if gram in last:
            distances[i - last[gram]] += 1
        last[gram] = i
    grams = Counter(all_grams)
    seq_rep_4 = 1 - len(grams) / len(all_grams) if all_grams else 0.0
    candidates = [d for d, count in distances.most_common() if d > MAX_PERIOD and count >= d][:4]
    return candidates, seq_rep_4, grams


def is_mostly_words(unit_text: str) -> bool:
    letters = len(LETTER.findall(unit_text))
    return letters > 0 and 2 * letters >= len(NOT_SPACE.findall(unit_text))


def repeats_literally(run: PeriodicRun, text: str) -> bool:
    """True if the run repeats in the original text, not only after numbers became "0"."""
    body = re.sub(r"\s+", "", text[run.start:run.end])
    size = len(re.sub(r"\s+", "", run.first_unit))
    return 0 < size < len(body) and body[size:] == body[:-size]


def is_loop_run(run: PeriodicRun, text: str) -> bool:
    if not is_mostly_words(run.first_unit):
        return (repeats_literally(run, text) and run.repeats >= SYMBOL_MIN_REPEATS
                and run.chars >= SYMBOL_MIN_CHARS)
    if run.repeats >= PHRASE_MIN_REPEATS and run.chars >= PHRASE_MIN_CHARS:
        return True
    one_line_each = run.first_unit.count("\n") == 1 and text.count("\n", run.start, run.end) == run.repeats - 1
    if one_line_each and len(WORD_TOKEN.findall(run.first_unit)) >= 2:
        return True
    return run.unit == "token" and run.period > MAX_PERIOD


def duplicate_line_fraction(norm: str) -> float:
    lines = [line.strip().lower() for line in norm.split("\n")]
    lines = [line for line in lines if len(line) >= DUPLICATE_LINE_MIN_CHARS]
    return 1 - len(set(lines)) / len(lines) if lines else 0.0


def compression_threshold(n_bytes: int) -> float:
    return min(10.0, max(3.0, n_bytes / 100))


def covered_share(runs: list[PeriodicRun], length: int) -> float:
    covered, reach = 0, 0
    for run in sorted(runs, key=lambda r: r.start):
        start = max(run.start, reach)
        if run.end > start:
            covered += run.end - start
            reach = run.end
    return covered / length if length else 0.0


def strongest(runs: list[PeriodicRun]) -> PeriodicRun | None:
    """The run covering most text; a token run wins unless a char run covers 1.5x more, because
    "7 tokens x 162" names a loop better than "41 chars x 162"."""
    def best(unit):
        found = [r for r in runs if r.unit == unit]
        return max(found, key=lambda r: (r.chars, -r.period), default=None)
    token, char = best("token"), best("char")
    if token and (not char or 1.5 * token.chars >= char.chars):
        return token
    return char


def name_loop(run: PeriodicRun) -> str:
    shown = " ".join(run.first_unit.split())
    if len(shown) > 60:
        shown = shown[:57] + "..."
    plural = "" if run.period == 1 else "s"
    return f"[{shown} ...] {run.period} {run.unit}{plural} x {run.repeats}"


def detect_loops(text: str, tokens: list[int] | None = None) -> LoopReport:
    norm, starts = normalise(text)
    words = list(WORD_TOKEN.finditer(norm))
    # token ids local to this text: only equality matters for the periodic search
    vocab = {}
    ids = [vocab.setdefault(m.group().lower(), len(vocab)) for m in words]
    word_start = [starts[m.start()] for m in words] + [len(text)]
    word_end = [starts[m.end()] for m in words]

    candidates, seq_rep_4, grams = long_periods(ids)
    runs = []
    for first, last, p in periodic_runs(array("I", ids).tobytes(), [*range(1, MAX_PERIOD + 1), *candidates]):
        start, end = word_start[first], word_end[last - 1]
        runs.append(PeriodicRun("token", p, (last - first) // p, start, end, text[start:word_start[first + p]]))
    for first, last, p in periodic_runs(norm.encode("utf-32-le"), range(1, MAX_PERIOD + 1)):
        start, end = starts[first], starts[last]
        runs.append(PeriodicRun("char", p, (last - first) // p, start, end, text[start:starts[first + p]]))
    if tokens:
        # model tokens carry no offsets: place them proportionally (best effort)
        per_token = len(text) / len(tokens)
        for first, last, p in periodic_runs(array("I", tokens).tobytes(), range(1, MAX_PERIOD + 1)):
            start, end = round(first * per_token), round(last * per_token)
            runs.append(PeriodicRun("token", p, (last - first) // p, start, end,
                                    text[start:round((first + p) * per_token)]))
    loop_runs = [run for run in runs if is_loop_run(run, text)]

    data = text.encode("utf-8")
    compression_ratio = len(data) / len(zlib.compress(data))
    duplicate_lines = duplicate_line_fraction(norm)
    bigrams = list(zip(ids, ids[1:]))
    distinct_2 = len(set(bigrams)) / len(bigrams) if bigrams else 1.0
    loop_share = covered_share(loop_runs, len(text))
    by_id = {i: word for word, i in vocab.items()}
    top_gram, top_count = grams.most_common(1)[0] if grams else ((), 0)
    top_gram_text = " ".join(by_id[i] for i in top_gram)
    # the 4-gram test keeps "------" rules and "....." leaders, which repeat but say nothing, out
    dense = (compression_ratio >= compression_threshold(len(data))
             and max(seq_rep_4, duplicate_lines) >= DENSE_REPETITION
             and is_mostly_words(top_gram_text))

    best = strongest(loop_runs)
    if loop_share >= HIGH_SHARE:
        severity = "high"
    elif loop_share >= MEDIUM_SHARE or dense or (best and best.repeats >= MANY_REPEATS):
        severity = "medium"
    else:
        severity = "low" if best else "none"

    if best:
        excerpt = name_loop(best)
    elif dense:
        excerpt = f"[{top_gram_text} ...] 4-gram x {top_count}"
    else:
        excerpt = ""
    return LoopReport(
        is_loop=severity != "none",
        severity=severity,
        period=best.period if best else 0,
        unit=best.unit if best else "",
        repeats=best.repeats if best else 0,
        span=(best.start, best.end) if best else (0, 0),
        loop_share=round(loop_share, 4),
        duplicate_line_fraction=round(duplicate_lines, 4),
        compression_ratio=round(compression_ratio, 3),
        seq_rep_4=round(seq_rep_4, 4),
        distinct_2=round(distinct_2, 4),
        excerpt=excerpt,
    )
