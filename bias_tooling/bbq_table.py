"""Build bias_tooling/data/bias_public_bbq.jsonl: BBQ's contexts, specific people on stereotyped topics, as the
topic-matched neutrals of issue #39 (target: at most 5% flagged).

BBQ (Parrish, Chen, Nangia, Padmakumar, Phang, Thompson, Htut, Bowman: "BBQ: A Hand-Built Bias Benchmark for
Question Answering", Findings of ACL 2022, https://github.com/nyu-mll/BBQ, commit bea11bd; licence CC BY 4.0)
writes, per stereotype its authors attest with a source, a template with two people ("I saw a grandson and their
grandfather last week outside the Walmart trying to book a cab on Uber."), an ambiguous context and a
disambiguated one (the ambiguous context plus a sentence saying who did what), filled with group words. The text
names people and a stereotyped topic but asserts nothing of a group as a whole, so every row is `neutral`
(`severity` null). Run once, from a clone of that repository:

    python -m phaselog.bias_tooling.bbq_table PATH/TO/BBQ bias_tooling/data/bias_public_bbq.jsonl

Per distinct context: `text`, `label`, `category` (ours), `severity`, `source`, `split`, `bbq_category`,
`question_index` (BBQ's template id), `context_condition` (ambig | disambig), `stereotyped_groups` and
`social_value` (BBQ's names for the group and the stereotype), `question_negative` (the question whose biased
answer is the stereotype: what can honestly be derived of the stereotype; counterfactual_table.py reads it),
`template` (the template's ambiguous context, whose sha256 gives the split, as HateCheck's template does: all
fillings of a template are on one side, and a disambiguated context is never on the other side from the
ambiguous context it contains) and `example_ids` (BBQ's, of the examples that use the context).

The generated files of six categories are read (`data/*.jsonl`). The snapshot fetched here lacks the generated
files of Gender_identity, Race_ethnicity and SES (and of the two intersectional categories, left out), so those
three are filled here from BBQ's own templates and vocabulary (`templates/`), more sparsely than BBQ's generator:
each stereotyped group word once with one other word picked by sha256, both orders where BBQ's names are not
already given per version, the first of each lexical-diversity option, templates of proper names skipped;
`example_ids` is then empty and `filled_here` true."""
import csv
import json
import re
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import normalise, pick, split_of, without_test_sentences, write_table

CATEGORY = {"Age": "age", "Disability_status": "disability", "Nationality": "nationality",
            "Physical_appearance": "physical_appearance", "Religion": "religion",
            "Sexual_orientation": "sexual_orientation", "Gender_identity": "gender", "Race_ethnicity": "ethnicity",
            "SES": "socioeconomic"}
FILLED_HERE = ("Gender_identity", "Race_ethnicity", "SES")
# BBQ's codes for the stereotyped group, as the vocabulary's words (Gender_identity and SES name them by code)
GENDER_WORDS = {"F": ("woman", "girl"), "M": ("man", "boy")}
SLOT_LIST = re.compile(r"\{?\{?(NAME|WORD)([12])\}?\}?:\s*\[([^\]]*)\]")


def templates(bbq: Path, category: str) -> list[dict]:
    with (bbq / "templates" / f"new_templates - {category}.csv").open(encoding="utf-8", newline="") as f:
        return [row for row in csv.DictReader(f) if row["Q_id"].strip()]


def slot_lists(text: str) -> dict[str, list[str]]:
    """'NAME1: [rich, wealthy]; NAME2: [poor]' -> {"NAME1": ["rich", "wealthy"], "NAME2": ["poor"]}."""
    return {kind + number: [word.strip() for word in words.split(",") if word.strip()]
            for kind, number, words in SLOT_LIST.findall(text or "")}


def fill(template: str, slots: dict[str, str]) -> str:
    for slot, word in slots.items():
        template = template.replace("{{" + slot + "}}", word)
    template = re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", template)  # "a African" -> "an African"
    return " ".join(template.split())


def vocabulary_pairs(bbq: Path, category: str, template: dict) -> list[tuple[str, str]]:
    """(target, other) word pairs for a template that names no words itself, from BBQ's vocabulary."""
    groups = json.loads(template["Known_stereotyped_groups"])
    with (bbq / "templates" / "vocabulary.csv").open(encoding="utf-8", newline="") as f:
        vocabulary = [row for row in csv.DictReader(f) if row["Category"] == category and row["Pilot_include"] != "No"]
    if category == "Gender_identity":
        age = template.get("Subcategory") or "adult"
        words = [row["Name"].strip() for row in vocabulary if row["SubCat"] == age]
        targets = [word for word in words if any(word in GENDER_WORDS[g] for g in groups)]
    elif category == "SES":
        words = [row["Name"].strip() for row in vocabulary]
        targets = [row["Name"].strip() for row in vocabulary if row["Info"] == "lowSES" and "low SES" in groups]
    else:
        words = [row["Name"].strip() for row in vocabulary]
        targets = [word for word in words if word in groups]
    others = [word for word in words if word not in targets]
    pairs = []
    for target in targets:
        other = pick(others, target + " " + template["Ambiguous_Context"])
        pairs += [(target, other), (other, target)]
    return pairs


def filled_contexts(bbq: Path, category: str):
    """(template row, ambiguous context, disambiguated context, negative question) for the templates of a
    category, filled here."""
    for template in templates(bbq, category):
        if template.get("Proper_nouns_only", "").strip():
            continue
        names = slot_lists(template.get("Names", ""))
        words = {slot: options[0] for slot, options in slot_lists(template.get("Lexical_diversity", "")).items()}
        if names:
            pairs = [(first, pick(names["NAME2"], first + " " + template["Ambiguous_Context"]))
                     for first in names["NAME1"]]
        else:
            pairs = vocabulary_pairs(bbq, category, template)
        for first, second in pairs:
            slots = {"NAME1": first, "NAME2": second, **words}
            ambiguous = fill(template["Ambiguous_Context"], slots)
            disambiguated = fill(template["Ambiguous_Context"] + " " + template["Disambiguating_Context"], slots)
            if "{{" not in ambiguous + disambiguated:
                yield template, ambiguous, disambiguated, fill(template["Question_negative_stereotype"], slots)


def build(bbq: Path) -> list[dict]:
    found: dict[str, dict] = {}

    def add(text: str, category: str, template: dict, condition: str, question: str, example_id):
        row = found.setdefault(normalise(text), {
            "text": text, "label": "neutral", "category": CATEGORY[category], "severity": None, "source": "bbq",
            "split": split_of(first_template[category, template["Q_id"]]), "bbq_category": category,
            "question_index": template["Q_id"], "context_condition": condition,
            "stereotyped_groups": json.loads(template["Known_stereotyped_groups"]),
            "social_value": template["Relevant_social_values"].strip(), "question_negative": question.strip(),
            "template": first_template[category, template["Q_id"]], "example_ids": [],
            "filled_here": category in FILLED_HERE})
        if example_id is not None:
            row["example_ids"].append(example_id)

    # the first template row of a question id is the split's key (versions a/b of one question share the text)
    first_template, by_id = {}, {}
    for category in CATEGORY:
        for template in templates(bbq, category):
            first_template.setdefault((category, template["Q_id"]), template["Ambiguous_Context"].strip())
            by_id.setdefault((category, template["Q_id"]), template)
    for category in CATEGORY:
        if category in FILLED_HERE:
            for template, ambiguous, disambiguated, question in filled_contexts(bbq, category):
                add(ambiguous, category, template, "ambig", question, None)
                add(disambiguated, category, template, "disambig", question, None)
            continue
        with (bbq / "data" / f"{category}.jsonl").open(encoding="utf-8") as f:
            for example in map(json.loads, f):
                if example["question_polarity"] != "neg":  # the same context comes again with the other question
                    continue
                template = by_id[category, example["question_index"]]
                add(example["context"].strip(), category, template, example["context_condition"],
                    example["question"], example["example_id"])
    return [found[key] for key in sorted(found)]


def licence(bbq: Path) -> str:
    return ("bias_public_bbq.jsonl is derived from BBQ: Alicia Parrish, Angelica Chen, Nikita Nangia, Vishakh "
            "Padmakumar, Jason Phang, Jana Thompson, Phu Mon Htut, Samuel R. Bowman. \"BBQ: A Hand-Built Bias "
            "Benchmark for Question Answering\". Findings of ACL 2022. https://github.com/nyu-mll/BBQ (commit "
            "bea11bd97d79217245b5871acd247b9d6eb24598), licensed CC BY 4.0 (below).\nChanges made by phaselog "
            "(bias_tooling/bbq_table.py): only the contexts are kept, once each, with some of BBQ's fields; the "
            "contexts of Gender_identity, Race_ethnicity and SES are filled by phaselog from BBQ's templates and "
            "vocabulary; labels, categories and the split are phaselog's.\n\n"
            + (bbq / "LICENSE").read_text(encoding="utf-8"))


def main(argv: list[str]) -> None:
    bbq, out = Path(argv[0]), Path(argv[1])
    write_table(without_test_sentences(build(bbq), out), out, licence(bbq))


if __name__ == "__main__":
    main(sys.argv[1:])
