"""Every figure of the bias detector in a run (understanding/bias_detector.py: gate, learned scorer, grammar), in
one command, so they can be rerun whenever the scorer's weights change:

    python -m phaselog.bias_tooling.detector_figures [--corpus ../shared/data/corpus]

- book corpus, dev split (the test books are scored once per change by the coordinator, never here): endorsed
  found and reported or neutral flagged at medium+, per category, for the two halves of the dev books and for the
  scorer's validation books (the dev books it was not trained on: the honest figure for an unseen book);
- the public sets' dev halves (ToxiGen, RedditBias, HateCheck, BBQ's topic-matched neutrals): the share flagged at
  medium+ per kind;
- the shared corpus (the prose the demo trains on): per file, the share of sentences with a high finding (a
  reflection saying one pauses a run), of 2 kB texts of it with one (the pause rate of reflection-sized text), and
  of sentences with a medium+ finding, and the medium+ findings of Meditations, Problems
  of Philosophy and Beyond Good and Evil listed in full, each sentence alone and as 2 kB texts, for a reader to
  judge (the last reading: docs/bias-philosophers-judged.md);
- each figure for the detector as shipped and for two alternatives: the grammar alone (`scan_rules`, the
  detector before #39) and the learned finding alone (the grammar's findings left out).
The speed is `phaselog bench scan`'s (a benchmark sits above this tooling in the layers: tests/test_layers.py).

    python -m phaselog.bias_tooling.detector_figures --cuts 0.62 0.66 0.70 0.74

sweeps the score from which a gated sentence is a learned finding instead (the shipped detector's cut is the
scorer card's `threshold()`): per cut, what the whole detector finds of the dev books' endorsed sentences and
flags of their reported or neutral ones (all dev books, and the validation books apart: the others trained the
scorer and flatter a lower cut), and of ToxiGen's and BBQ's dev halves, beside the issue's bars on false alarms (at
most 5% of the books' reported or neutral sentences and of BBQ's neutrals, at most 8% of ToxiGen's neutrals). A
measuring tool, not a picker: a rule change is weighed with it on the validation books, then checked on books no
choice saw (docs/detectors.md, "A variant measured and not shipped").

    python -m phaselog.bias_tooling.detector_figures --modern-cuts 0.8 0.9 2

sweeps the modern head's cut (bias_modern.py; above 1 turns it off: the book scorer alone, the detector before
it) on the rows it never trained on: the book scorer's validation books and the inner held-out third of the public
dev halves (train_modern_scorer.held_out). `public_figures` gives that third apart too.

    python -m phaselog.bias_tooling.detector_figures --path-cuts 0.5 0.7 0.9

sweeps the modern path's cut (scan_bias_many's `path_cut`: sentences the gate drops, read by the modern head alone)
on the public dev halves (whole and the modern head's held-out third), the dev books and the shared corpus, whose
medium+ findings the path adds at the lowest cut are listed in full with their scores, for a reader to judge.

    python -m phaselog.bias_tooling.detector_figures --audit

says where each endorsed sentence of the dev books (validation books included, never the test books) is lost, by
STAGES: (a) the gate finds no group mention, (c) the score is below the cut, (d) the severity is low or there is
no judgement to rate, (b) the grammar's veto on the stance makes a medium+ finding low, (e) found at medium+; per
category and per annotated severity, for all dev books and the validation books, with examples
(docs/detectors.md, "Where the dev books' generalisations are lost").

    python -m phaselog.bias_tooling.detector_figures --ceiling

says how many of the dev books' endorsed sentences could ever be found at medium+, per category: those the
annotators rated medium or high (the shipped severity calls praise low), of them those the gate passes and no stance
veto makes low, and what a perfect scorer would give (every gated sentence at or above the cut, the severity rules
as shipped), beside today's (docs/detectors.md, "The ceiling")."""
import argparse
import json
from pathlib import Path

from phaselog.bias_tooling.book_sentences import read_table
from phaselog.bias_tooling.train_modern_scorer import held_out, inner_key
from phaselog.understanding.bias import scan_rules
from phaselog.understanding.bias_detector import (KEPT_RULE, SEVERITIES, discounted_severity, judged, scan_bias_many,
                                                   worst_severity)
from phaselog.understanding.bias_gate import humankind, mentions_in, sentences_to_score
from phaselog.understanding.bias_scorer import card, load_scorer, threshold
from phaselog.understanding.scan import as_texts, corpus_sentences

DATA = Path(__file__).parent / "data"
PUBLIC = {"toxigen": "type", "redditbias": "label", "hatecheck": "label", "bbq": "label"}
LISTED = ("meditations", "problems-of-philosophy", "beyond-good-and-evil")  # Marcus Aurelius, Russell, Nietzsche
FLAGGED = ("medium", "high")


def readings(texts: list[str]) -> dict[str, list[list]]:
    """Per variant, each text's findings: as shipped, the learned finding alone, the grammar alone."""
    shipped = scan_bias_many(texts)
    return {"shipped": shipped,
            "learned only": [[f for f in found if not f.why.startswith(KEPT_RULE)] for found in shipped],
            "grammar only (before)": [scan_rules(text) for text in texts]}


def flagged(findings: list) -> bool:
    return worst_severity(findings) in FLAGGED


def share(hits: list[bool]) -> str:
    return f"{sum(hits)}/{len(hits)} ({sum(hits) / max(len(hits), 1):.1%})"


def book_figures() -> dict:
    rows = [row for row in read_table() if row["split"] == "dev" and row["label"] != "unusable"
            and row["category"] != "other"]
    books = sorted({row["book_id"] for row in rows})
    held_out = set(card()["validation_books"])
    figures = {}
    for variant, found in readings([row["text"] for row in rows]).items():
        sides = {}
        for side, labels in (("endorsed", {"endorsed"}), ("reported_or_neutral", {"reported", "neutral"})):
            picked = [(row, flagged(f)) for row, f in zip(rows, found) if row["label"] in labels]
            sides[side] = {"all": share([hit for _, hit in picked])}
            # the books the scorer never trained on (its card's validation books): the figure a new book may expect
            sides[side]["validation books"] = share([hit for row, hit in picked if row["book_id"] in held_out])
            for half in (0, 1):
                sides[side][f"half {half + 1}"] = share([hit for row, hit in picked
                                                        if books.index(row["book_id"]) % 2 == half])
            for category in sorted({row["category"] for row, _ in picked}):
                sides[side][category] = share([hit for row, hit in picked if row["category"] == category])
        figures[variant] = sides
    return figures


def public_figures() -> dict:
    figures = {}
    for name, kind_field in PUBLIC.items():
        rows = [json.loads(line) for line in (DATA / f"bias_public_{name}.jsonl").open(encoding="utf-8")]
        rows = [row for row in rows if row["split"] == "dev"]
        for variant, found in readings([row["text"] for row in rows]).items():
            kinds = sorted({row[kind_field] for row in rows})
            figures.setdefault(name, {})[variant] = {
                kind: share([flagged(f) for row, f in zip(rows, found) if row[kind_field] == kind]) for kind in kinds}
            # the modern head trained on the rest of the dev half: its held-out third is the honest figure
            figures[name][variant].update({f"{kind}, modern head's held-out": share(
                [flagged(f) for row, f in zip(rows, found) if row[kind_field] == kind
                 and held_out(inner_key(name, row))]) for kind in kinds})
    return figures


def corpus_figures(corpus: Path) -> dict:
    """Per file, sentences with a high finding and with a medium+ one (each sentence scanned alone, as a
    reflection of one sentence would be); the listed books' medium+ findings in full."""
    figures, listed = {}, {}
    for path in sorted(corpus.rglob("*.txt")):
        sentences = corpus_sentences(path, 10 ** 9)
        texts = readings(as_texts(sentences))  # as a run would scan them: reflection-sized texts
        for variant, found in readings(sentences).items():
            figures.setdefault(path.name, {})[variant] = {
                "high": share([worst_severity(f) == "high" for f in found]),
                "medium+": share([flagged(f) for f in found]),
                "2 kB texts with a high finding": share([worst_severity(f) == "high" for f in texts[variant]])}
            if variant == "shipped" and any(name in path.stem for name in LISTED):
                # both readings, as the reader judged them (docs/bias-philosophers-judged.md)
                listed[path.name] = {reading: [f"{x.severity} {x.category} {x.terms} score {x.score}: {x.context}"
                                               for findings in read for x in findings if x.severity in FLAGGED]
                                     for reading, read in (("sentence", found), ("2 kB text", texts[variant]))}
    return {"by file": figures, "medium+ findings listed": listed}


def cut_sweep(cuts: list[float]) -> dict:
    """Per cut, the whole detector on the dev books (all, and the validation books apart: the others trained the
    scorer, so they flatter a lower cut) and on ToxiGen's and BBQ's dev halves, beside the issue's bars (at most 5% of
    the books' reported or neutral sentences and of BBQ's neutrals, 8% of ToxiGen's)."""
    held_out = set(card()["validation_books"])
    rows = [(("validation books" if row["book_id"] in held_out else "other dev books"),
             "endorsed" if row["label"] == "endorsed" else "reported or neutral", row["text"])
            for row in read_table() if row["split"] == "dev" and row["label"] != "unusable"
            and row["category"] != "other"]
    for name in ("toxigen", "bbq"):
        rows += [(f"{name} dev", row[PUBLIC[name]], row["text"])
                 for row in map(json.loads, (DATA / f"bias_public_{name}.jsonl").open(encoding="utf-8"))
                 if row["split"] == "dev" and row[PUBLIC[name]] in ("explicit", "neutral")]
    sweep = {}
    for cut in sorted(cuts):
        found = [flagged(f) for f in scan_bias_many([text for _, _, text in rows], cut)]

        def hits(sets: tuple[str, ...], kind: str) -> list[bool]:
            return [hit for (where, k, _), hit in zip(rows, found) if where in sets and k == kind]
        books = ("validation books", "other dev books")
        figures = {"dev books endorsed found": share(hits(books, "endorsed")),
                   "dev books reported or neutral flagged": share(hits(books, "reported or neutral")),
                   "validation books endorsed found": share(hits(books[:1], "endorsed")),
                   "validation books reported or neutral flagged": share(hits(books[:1], "reported or neutral")),
                   "toxigen dev explicit": share(hits(("toxigen dev",), "explicit")),
                   "toxigen dev neutral": share(hits(("toxigen dev",), "neutral")),
                   "bbq dev neutral": share(hits(("bbq dev",), "neutral"))}
        bars = [(hits(books, "reported or neutral"), 0.05), (hits(books[:1], "reported or neutral"), 0.05),
                (hits(("toxigen dev",), "neutral"), 0.08), (hits(("bbq dev",), "neutral"), 0.05)]
        figures["within the bars"] = all(sum(hit) <= bar * len(hit) for hit, bar in bars)
        sweep[cut] = figures
    return sweep


def modern_sweep(cuts: list[float]) -> dict:
    """Per cut of the modern head (above 1: off, the book scorer alone), the whole detector on the rows the
    modern head never trained on: the validation books and the inner held-out third of the public dev halves."""
    held_books = set(card()["validation_books"])
    rows = [("books", "endorsed" if row["label"] == "endorsed" else "reported or neutral", row["text"])
            for row in read_table() if row["book_id"] in held_books and row["label"] != "unusable"
            and row["category"] != "other"]
    for name, kind_field in PUBLIC.items():
        rows += [(name, row[kind_field], row["text"])
                 for row in map(json.loads, (DATA / f"bias_public_{name}.jsonl").open(encoding="utf-8"))
                 if row["split"] == "dev" and held_out(inner_key(name, row))]
    sweep = {}
    for cut in sorted(cuts):
        found = [flagged(f) for f in scan_bias_many([text for _, _, text in rows], modern_cut=cut)]
        sweep[cut] = {f"{name} {kind}": share([hit for (n, k, _), hit in zip(rows, found) if (n, k) == (name, kind)])
                      for name, kind in sorted({(n, k) for n, k, _ in rows})}
    return sweep


def path_severities(texts: list[str], cuts: list[float]) -> tuple[dict[float, list[str]], list[str], list[list]]:
    """Per cut of the modern path, each text's worst severity, from two scans: the path off (a cut above 1) and at
    the lowest cut. A path finding depends on its own sentence's score alone and replaces only a less severe
    finding, so a text's worst at a cut is the worst without the path or of its path findings scored at or above the
    cut (as shown, to 3 decimals). Also the worst without the path and the path's findings at the lowest cut."""
    lowest = min(cuts)
    off = [worst_severity(found) for found in scan_bias_many(texts, path_cut=2)]
    # the path's findings are the modern head's at the lowest cut, which neither the card's 0.97 nor its why shares
    path = [[f for f in found if f.why.startswith("modern score") and f" >= {lowest:.2f} " in f.why]
            for found in scan_bias_many(texts, path_cut=lowest)]
    order = ("none", *SEVERITIES)
    return {cut: [max([worst] + [f.severity for f in found if f.score >= cut], key=order.index)
                  for worst, found in zip(off, path)] for cut in sorted(cuts)}, off, path


def path_sweep(cuts: list[float], corpus: Path) -> dict:
    """Per cut of the modern path (path_severities), the public dev halves (whole and the modern head's held-out
    third), the dev books and the shared corpus, whose medium+ findings the path adds at the lowest cut are listed."""
    sweep = {}
    rows = [("books", row["label"] if row["label"] == "endorsed" else "reported or neutral", row["text"])
            for row in read_table() if row["split"] == "dev" and row["label"] != "unusable"
            and row["category"] != "other"]
    held = [False] * len(rows)
    for name, kind_field in PUBLIC.items():
        picked = [row for row in map(json.loads, (DATA / f"bias_public_{name}.jsonl").open(encoding="utf-8"))
                  if row["split"] == "dev"]
        rows += [(name, row[kind_field], row["text"]) for row in picked]
        held += [held_out(inner_key(name, row)) for row in picked]
    worst, _, _ = path_severities([text for _, _, text in rows], cuts)
    for cut, severities in worst.items():
        hits = [severity in FLAGGED for severity in severities]
        sweep[cut] = {f"{name} {kind}": share([hit for (n, k, _), hit in zip(rows, hits) if (n, k) == (name, kind)])
                      for name, kind in sorted({(n, k) for n, k, _ in rows})}
        sweep[cut].update({f"{name} {kind}, modern head's held-out": share(
            [hit for (n, k, _), hit, h in zip(rows, hits, held) if (n, k) == (name, kind) and h])
            for name, kind in sorted({(n, k) for n, k, _ in rows}) if name != "books"})
    listed = []
    for path in sorted(corpus.rglob("*.txt")):
        sentences = corpus_sentences(path, 10 ** 9)
        alone, off, found = path_severities(sentences, cuts)
        texts, _, _ = path_severities(as_texts(sentences), cuts)
        for cut in sorted(cuts):
            sweep[cut][f"corpus {path.stem}"] = {
                "medium+ sentences": sum(severity in FLAGGED for severity in alone[cut]),
                "2 kB texts with a high finding": sum(severity == "high" for severity in texts[cut])}
        listed += [f"{path.stem}: {f.severity} {f.category} {f.terms} score {f.score}: {f.context}"
                   for path_found, severity in zip(found, off) for f in path_found
                   if f.severity in FLAGGED and severity not in FLAGGED]
    return {"by cut": sweep, f"shared corpus: medium+ sentences the path adds at {min(cuts)}": listed}


# where an endorsed sentence is lost, in the order the detector reads it; a text of several sentences counts at the
# furthest stage any of them reached ("b" is the grammar's veto, named by its kind after the colon)
STAGES = ("a: no group word", "a: the gate: no mark of a claim", "a: 'men' read as humankind",
          "c: scorer below the cut", "d: nothing said of the group", "d: rated low", "b: veto", "e: found at medium+")
EXAMPLES = 4  # sentences shown per stage and category, the first by id


def stage_of(text: str, findings: list, passed: list, assessments: list, cut: float) -> str:
    """The furthest stage of STAGES the text reached (module docstring, --audit)."""
    if flagged(findings):
        return STAGES[-1]
    best = STAGES[1] if mentions_in(text) else STAGES[0]
    for (sentence, mentions), assessment in zip(passed, assessments):
        kept = [m for m in mentions if not humankind(m, mentions)]
        if not kept:
            stage = STAGES[2]
        elif assessment.endorsed < cut:
            stage = STAGES[3]
        else:
            severity, discount, _, _ = judged(sentence, kept, assessment)
            vetoed = severity in FLAGGED and discounted_severity(severity, discount) not in FLAGGED
            stage = f"{STAGES[6]}: {discount}" if vetoed else STAGES[5] if severity else STAGES[4]
        best = max(best, stage, key=rank)
    return best


def rank(stage: str) -> int:
    """Where a stage of stage_of stands in STAGES (a veto is named by its kind after the colon)."""
    return STAGES.index(STAGES[6] if stage.startswith(STAGES[6]) else stage)


def audit() -> dict:
    """Where each endorsed sentence of the dev books (validation books included, never the test books) is lost:
    per stage, per category and per annotated severity, for all dev books and the validation books alone, with
    examples. The stages are those of the shipped detector at the scorer card's threshold."""
    held_out = set(card()["validation_books"])
    rows = sorted((row for row in read_table() if row["split"] == "dev" and row["label"] == "endorsed"
                   and row["category"] != "other"), key=lambda row: row["id"])
    texts = [row["text"] for row in rows]
    passed = [sentences_to_score(text) for text in texts]
    flat = [sentence for sentences in passed for sentence, _ in sentences]
    assessments = iter(load_scorer().assess(flat))
    cut = threshold()
    stages = [stage_of(text, findings, sentences, [next(assessments) for _ in sentences], cut)
              for text, findings, sentences in zip(texts, scan_bias_many(texts), passed)]
    figures = {}
    for books, picked in (("dev", rows), ("validation books", [r for r in rows if r["book_id"] in held_out])):
        table = figures.setdefault(books, {})
        for row, stage in zip(rows, stages):
            if row in picked:
                for column in ("all", row["category"], f"annotated {row['severity']}"):
                    table.setdefault(stage, {}).setdefault(column, 0)
                    table[stage][column] += 1
    examples = {}
    for row, stage in zip(rows, stages):
        shown = examples.setdefault(stage, {}).setdefault(row["category"], [])
        if len(shown) < EXAMPLES:
            shown.append(f"{row['id']} ({row['severity']}): {row['text']}")
    figures["examples"] = examples
    return figures


def ceiling() -> dict:
    """Per category (and the validation books), of the dev books' endorsed sentences: how many the annotators rated
    medium or high; of those, how many the gate passes, and pass without a stance veto; how many a perfect scorer finds
    at medium+ (the learned finding's cut at 0: every gated sentence scores above it; the severity rules as shipped)
    and how many of them the annotators rated low; how many the shipped detector finds (module docstring)."""
    held_out = set(card()["validation_books"])
    rows = [row for row in read_table() if row["split"] == "dev" and row["label"] == "endorsed"
            and row["category"] != "other"]
    texts = [row["text"] for row in rows]
    passed = [sentences_to_score(text) for text in texts]
    scored = iter(load_scorer().assess([sentence for sentences in passed for sentence, _ in sentences]))
    assessments = [[next(scored) for _ in sentences] for sentences in passed]
    perfect = scan_bias_many(texts, 0.0)
    figures = {}
    for row, text, sentences, read, found, today in zip(rows, texts, passed, assessments, perfect,
                                                        scan_bias_many(texts)):
        stage = stage_of(text, found, sentences, read, 0.0)
        rated = row["severity"] in FLAGGED
        counts = {"endorsed": True, "annotated medium or high": rated,
                  "annotated medium or high, the gate passes": rated and not stage.startswith("a:"),
                  "annotated medium or high, the gate passes, no veto": rated and stage[:2] not in ("a:", "b:"),
                  "a perfect scorer finds": flagged(found), "a perfect scorer finds, annotated low":
                  flagged(found) and not rated, "found today": flagged(today),
                  "found today, annotated low": flagged(today) and not rated}
        for column in ["all", row["category"]] + (["validation books"] if row["book_id"] in held_out else []):
            for name, hit in counts.items():
                figures.setdefault(column, dict.fromkeys(counts, 0))[name] += hit
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/data/corpus")
    parser.add_argument("--cuts", type=float, nargs="+", help="sweep the learned finding's cut over these scores")
    parser.add_argument("--modern-cuts", type=float, nargs="+",
                        help="sweep the modern head's cut over these scores, on the rows it never trained on")
    parser.add_argument("--path-cuts", type=float, nargs="+",
                        help="sweep the modern path's cut over these scores on the dev halves and the shared corpus")
    parser.add_argument("--audit", action="store_true", help="where the dev books' endorsed sentences are lost")
    parser.add_argument("--ceiling", action="store_true", help="what of the dev books' claims could ever be found")
    args = parser.parse_args()
    if args.audit:
        print(json.dumps(audit(), indent=1))
        return
    if args.ceiling:
        print(json.dumps(ceiling(), indent=1))
        return
    if args.modern_cuts:
        print(json.dumps(modern_sweep(args.modern_cuts), indent=1))
        return
    if args.path_cuts:
        print(json.dumps(path_sweep(args.path_cuts, Path(args.corpus)), indent=1))
        return
    if args.cuts:
        print(json.dumps(cut_sweep(args.cuts), indent=1))
        return
    corpus = Path(args.corpus)
    figures = {"books dev": book_figures(), "public dev halves": public_figures()}
    if corpus.is_dir():
        figures["shared corpus"] = corpus_figures(corpus)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
