"""Build bias_tooling/data/bias_public_dixon.jsonl: identity terms in toxic and non-toxic template sentences, the
method of Dixon et al., from the Sentence Templates of conversationai/unintended-ml-bias-analysis.

Dixon, Li, Sorensen, Thain, Vasserman: "Measuring and Mitigating Unintended Bias in Text Classification", AIES
2018; the maintained English set is `sentence_templates/en_sentence_templates.csv` of
https://github.com/conversationai/unintended-ml-bias-analysis (commit 9c7d91a; Apache-2.0), its words in
`archive/unintended_ml_bias/new_madlibber/input_data/en/en-us/words.csv`. Each row is a template name, toxic or
nontoxic, and a phrase: "Being gay is wonderful" / "Being gay is disgusting", "Hiro is a repulsive millenial",
"You are a filthy lesbian", "I am gay" / "I hate gay", "hug sikh" / "kill sikh". What makes them useful here: the
same identity word in friendly and hostile frames, so a scorer that reads the word alone cannot separate them.
Run once, from a clone of that repository:

    python -m phaselog.bias_tooling.dixon_table PATH/TO/UNINTENDED-ML-BIAS-ANALYSIS \\
        bias_tooling/data/bias_public_dixon.jsonl

`label`, by template (the phrase's form decides it, not its words): "Being X is <adj>" says something of the
identity as such, `endorsed`; a named person or "you" called "a <adj> X", "I am X" and a friendly verb ("hug X"),
`neutral` (a group word, no generalisation); "I hate X" and "kill X" are hostility, not a stated trait, so they map
to none of the three and `label` is null. `severity`: toxic high (the toxic words are insults and contempt, which
the detector grades high), nontoxic none. The 72,000 "<name> is a <adj> <identity>" phrases (45 names) are cut to
one name per (adjective, identity), picked by sha256; "You are a <adj> <occupation>" names no identity and is left
out. `template_key` is the phrase with the identity and the name as slots ("being [identity] is disgusting"): its
sha256 gives the split, so an adjective's frame is on one side for every identity (as HateCheck's templates)."""
import csv
import re
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import pick, split_of, without_test_sentences, write_table

CATEGORY = {"sexuality": "sexual_orientation", "gender": "gender", "ethnicity": "ethnicity", "religion": "religion",
            "age": "age", "disability": "disability"}
NATIONALITIES = {"american", "canadian", "chinese", "japanese", "mexican"}  # listed as ethnicity by the source
WORDS = "archive/unintended_ml_bias/new_madlibber/input_data/en/en-us/words.csv"
# template -> (regex over the phrase, its groups' roles)
FORMS = {
    "being_adj": (re.compile(r"Being (?P<identity>.+) is (?P<adjective>\S+)"), "being [identity] is {adjective}"),
    "name_adj": (re.compile(r"(?P<name>\S+) is an? (?P<adjective>\S+) (?P<identity>.+)"),
                 "[name] is a {adjective} [identity]"),
    "you_are_adj": (re.compile(r"You are an? (?P<adjective>\S+) (?P<identity>.+)"), "you are a {adjective} [identity]"),
    "am_hate_adj": (re.compile(r"I (?P<verb>am|hate) (?P<identity>.+)"), "i {verb} [identity]"),
    "verb_adj": (re.compile(r"(?P<verb>\S+) (?P<identity>.+)"), "{verb} [identity]"),
}


def label_of(template: str, toxic: bool):
    if template == "being_adj":
        return "endorsed"
    if template in ("name_adj", "you_are_adj") or not toxic:
        return "neutral"
    return None  # "I hate X", "kill X": hostility, not a generalisation


def build(repo: Path) -> list[dict]:
    with (repo / WORDS).open(encoding="utf-8", newline="") as f:
        words = list(csv.DictReader(f))
    identities = {row["word"]: row["subtype"] for row in words if row["type"] == "identity"
                  and row["connotation"] == "neutral"}
    names = sorted(row["word"] for row in words if row["type"] == "name")
    rows = []
    with (repo / "sentence_templates" / "en_sentence_templates.csv").open(encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if row["template"] not in FORMS:
                continue
            pattern, key = FORMS[row["template"]]
            match = pattern.fullmatch(row["phrase"].strip())
            if not match or match["identity"] not in identities:
                continue
            parts = match.groupdict()
            if "name" in parts and parts["name"] != pick(names, parts["adjective"] + " " + parts["identity"]):
                continue
            toxic = row["toxicity"] == "toxic"
            identity = parts["identity"]
            template_key = key.format(**parts).lower()
            rows.append({"text": row["phrase"].strip(), "label": label_of(row["template"], toxic),
                         "category": "nationality" if identity in NATIONALITIES else CATEGORY[identities[identity]],
                         "severity": "high" if toxic else "none", "source": "dixon", "split": split_of(template_key),
                         "template": row["template"], "toxicity": row["toxicity"], "identity": identity,
                         "template_key": template_key, "line": line})
    return rows


def licence(repo: Path) -> str:
    return ("bias_public_dixon.jsonl is derived from the Sentence Templates of "
            "https://github.com/conversationai/unintended-ml-bias-analysis (commit "
            "9c7d91aaa53406a362354661a93e07956d95e59a), sentence_templates/en_sentence_templates.csv, made by the "
            "method of Lucas Dixon, John Li, Jeffrey Sorensen, Nithum Thain, Lucy Vasserman: \"Measuring and "
            "Mitigating Unintended Bias in Text Classification\", AIES 2018. Licensed under the Apache License 2.0 "
            "(below).\nChanges made by phaselog (bias_tooling/dixon_table.py): a sample of the rows (one name per "
            "adjective and identity; the occupation template left out) with phaselog's labels, categories, severity "
            "and split.\n\n" + (repo / "LICENSE").read_text(encoding="utf-8"))


def main(argv: list[str]) -> None:
    repo, out = Path(argv[0]), Path(argv[1])
    write_table(without_test_sentences(build(repo), out), out, licence(repo))


if __name__ == "__main__":
    main(sys.argv[1:])
