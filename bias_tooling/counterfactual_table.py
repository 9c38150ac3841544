"""Build bias_tooling/data/bias_counterfactual.jsonl: counterfactual minimal pairs for training a stance-aware
scorer (issue #39). Template sentences written here, `source: counterfactual`: training data only, never an
evaluation set.

From each (group, predicate) of the public tables' DEV rows, the same group and predicate said five ways: asserted
("Deaf people are lazy."), negated ("Deaf people are not lazy."), reported ("Some claim that deaf people are
lazy."), argued against ("The idea that deaf people are lazy is a myth.") and said of one person ("Tom is lazy.",
"My neighbour, one of the deaf people, is lazy today."), and, where BiasAsker gives one, the predicate's antonym
asserted. Labels: assertion and antonym `endorsed`; negation, report and counter-speech `reported`; one person
`neutral`. Each form has templates in today's register and in the register of 18th-20th century prose, the one the
model writes in ("It is the nature of deaf people to be lazy.", "Deaf people, it is said, are lazy.", "It is a
vulgar error to suppose that ..."); one template per form and pair is picked by sha256, so both registers appear
and the table stays small. `severity` is the claim's, whatever the stance (the source's: SeeGULL's offensiveness;
null where the source gives none); `label` says the stance.

The pairs: BiasAsker's predicates (with their antonyms) and groups as its table says them; SeeGULL's tuples that 2 of
3 raters of either pool called a stereotype; WinoQueer's stereotypes (HEARTS's file), the group named as "<group>
people"; and from BBQ, where a template's question asks who has a present trait ("Who forgets things?", "What
group of people uses drugs?"; a question about one past event is left out) and BBQ names the stereotyped group,
that group and the question's predicate in the plural ("old people", "forget things"). Every row is `dev`:
`split_key` is the source row's split key (its predicate, template or text), whose sha256 rule gives dev. A
sentence that is the text (or a run of sentences of the text) of a TEST row of any table is left out. Run after the
public tables are built (needs the `tooling` extra):

    python -m phaselog.bias_tooling.counterfactual_table bias_tooling/data bias_tooling/data/bias_counterfactual.jsonl
"""
import re
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import normalise, pick, read_table, split_of, without_test_sentences, write_table

NAMES = ["Tom", "Mary", "Mr. Hale", "Mrs. Grey", "old Thomas", "my cousin Anne"]
MODALS = ("can", "can't", "cannot", "cant", "could", "couldn't", "should", "shouldn't", "will", "won't", "would",
          "wouldn't", "must", "may", "might")
SINGULAR = {"are": "is", "were": "was", "have": "has", "do": "does", "don't": "doesn't", "dont": "doesn't",
            "aren't": "isn't", "weren't": "wasn't", "haven't": "hasn't"}
ADVERBS = ("always", "never", "often", "usually", "just", "only", "really", "still", "also", "rarely")
BBQ_GROUPS = {"old": "old people", "nonOld": "young people", "F": "women", "M": "men", "low SES": "poor people",
              "D/deaf": "deaf people", "mentally-ill": "mentally ill people", "Down's syndrome":
              "people with Down's syndrome", "trans": "trans people", "Transgender women": "transgender women",
              "transgender women": "transgender women", "transgender men": "transgender men"}
BBQ_SKIP = {"negDress", "visibleDifference", "disabled", "nonObese"}
WINOQUEER_GROUPS = {"NB": "nonbinary people", "Lesbian": "lesbians", "LGBTQ": "LGBTQ people"}


def third_person(verb: str) -> str:
    from lemminflect import getInflection  # the tooling extra: rebuilding only
    return (getInflection(verb, "VBZ") or (verb + "s",))[0]


def inflected(verb: str) -> bool:
    """A past tense or a participle ("got", "lost", "getting"): no infinitive or third person is made from it."""
    from lemminflect import getAllLemmas
    lemmas = getAllLemmas(verb.lower()).get("VERB")
    return bool(lemmas) and lemmas[0] != verb.lower()


def singular(predicate: str) -> str | None:
    """The plural predicate said of one person: "are lazy" -> "is lazy", "drink" -> "drinks"."""
    first, _, rest = predicate.partition(" ")
    low = first.lower()
    if low in ADVERBS:
        tail = singular(rest)
        return f"{first} {tail}" if tail else None
    if low in SINGULAR:
        return f"{SINGULAR[low]} {rest}".strip()
    if low in MODALS:
        return predicate
    if low in ("all", "both", "each") or not first.isalpha() or inflected(first):
        return None
    return f"{third_person(first)} {rest}".strip()


def negated(predicate: str) -> str | None:
    first, _, rest = predicate.partition(" ")
    low = first.lower()
    if low in ("are", "were", "should", "will", "would", "must", "can", "could"):
        return f"{first} not {rest}" if low != "can" else f"cannot {rest}"
    if low == "have" or (first.isalpha() and low not in MODALS + ADVERBS + ("all", "do") and "'" not in first
                         and low not in SINGULAR):
        return f"do not {predicate}"
    return None  # "don't", "can't", "always": negated in other words below


def infinitive(predicate: str) -> str | None:
    first, _, rest = predicate.partition(" ")
    low = first.lower()
    if low in ("are", "were"):
        return f"to be {rest}"
    if low in ("can't", "cannot", "cant"):
        return f"to be unable to {rest}"
    if low in ("don't", "dont"):
        return f"not to {rest}"
    if low in MODALS + ADVERBS + ("all", "aren't", "weren't", "haven't") or not first.isalpha() or inflected(first):
        return None
    return f"to {predicate}"


def capital(text: str) -> str:
    return text[0].upper() + text[1:]


def mid(group: str) -> str:
    return group[0].lower() + group[1:] if group.startswith("People ") else group


# form -> label and templates: (register, template) over g (the group), p (the predicate), and what else they need
FORMS = {
    "assertion": ("endorsed", [("modern", "{G} {p}."), ("period", "It is the nature of {g} {inf}."),
                               ("period", "Such is the character of {g}: they {p}."),
                               ("period", "All {g}, as every traveller knows, {p}.")]),
    "negation": ("reported", [("modern", "{G} {neg}."), ("modern", "It is not true that {g} {p}."),
                              ("period", "It is not the case, whatever may be said, that {g} {p}.")]),
    "report": ("reported", [("modern", "Some claim that {g} {p}."), ("modern", "People say that {g} {p}."),
                            ("period", "{G}, it is said, {p}."),
                            ("period", "It has been said by travellers that {g} {p}.")]),
    "counter_speech": ("reported", [("modern", "The idea that {g} {p} is a myth."),
                                    ("modern", "It is a stereotype, and a false one, that {g} {p}."),
                                    ("period", "It is a vulgar error to suppose that {g} {p}."),
                                    ("period", "Only ignorance and prejudice could hold that {g} {p}.")]),
    "one_person": ("neutral", [("modern", "{name} {sg}."), ("modern", "My neighbour, one of the {g}, {sg} today."),
                               ("period", "{name}, who is one of the {g}, {sg} this evening, as it happens.")]),
}


def variants(group: str, predicate: str, key: str):
    """(form, label, register, text) for one pair: one template per form, picked by sha256."""
    slots = {"G": capital(group), "g": mid(group), "p": predicate, "neg": negated(predicate),
             "inf": infinitive(predicate), "sg": singular(predicate), "name": pick(NAMES, key)}
    for form, (label, templates) in FORMS.items():
        usable = [(register, t) for register, t in templates
                  if all(slots[name] for name in re.findall(r"\{(\w+)\}", t))]
        if usable:
            register, template = pick(usable, form + " " + key)
            yield form, label, register, capital(template.format(**slots))


def bbq_pair(row: dict) -> tuple[str, str] | None:
    """(group, plural predicate) from a BBQ template's negative question about a present trait, or None."""
    from lemminflect import getAllLemmas, getInflection
    match = re.fullmatch(r"(?:Who|What group of people) (\S+) (.+?)\??", row["question_negative"].strip())
    codes = [code for code in row["stereotyped_groups"] if code not in BBQ_SKIP]
    if not match or not codes:
        return None
    verb, rest = match.groups()
    if verb in ("is", "are"):
        article = re.match(r"an? (.+)", rest)
        if article:  # "is a lazy person" -> "are lazy people"
            *words, noun = article.group(1).split()
            rest = " ".join(words + ["people" if noun == "person" else (getInflection(noun, "NNS") or (noun,))[0]])
        predicate = f"are {rest}"
    elif verb in ("isn't", "doesn't"):
        predicate = {"isn't": "aren't", "doesn't": "don't"}[verb] + " " + rest
    elif verb.endswith("s") and verb != "was" and "VERB" in getAllLemmas(verb):
        predicate = f"{getAllLemmas(verb)['VERB'][0]} {rest}"
    else:
        return None  # past events ("Who was ..."), adverbs first ("Who likely ...")
    code = pick(codes, row["question_negative"])
    named = code.endswith(("people", "women", "men")) or code.startswith("people ")
    group = BBQ_GROUPS.get(code) or (code if named else f"{code} people")
    return group, predicate


def pairs(tables: Path):
    """(source, group, predicate, category, severity, split_key) from the dev rows of the tables."""
    for row in read_table(tables / "bias_public_biasasker.jsonl"):
        if row["split"] == "dev" and row["form"] == "assertion":
            yield "biasasker", row["group"], row["predicate"], row["category"], row["severity"], row["predicate"]
    for row in read_table(tables / "bias_public_seegull.jsonl"):
        if row["split"] == "dev" and row["stereotype"]:
            yield "seegull", row["group"], row["predicate"], row["category"], row["severity"], row["text"]
    for row in read_table(tables / "bias_public_winoqueer.jsonl"):
        if row["split"] == "dev" and row["hearts_label"] == "stereotype":
            group = WINOQUEER_GROUPS.get(row["group"], f"{row['group']} people")
            yield "winoqueer", group, row["predicate"], row["category"], None, row["predicate"]
    seen = set()
    for row in read_table(tables / "bias_public_bbq.jsonl"):
        pair = bbq_pair(row) if row["split"] == "dev" else None
        if pair and (row["bbq_category"], row["question_index"]) not in seen:
            seen.add((row["bbq_category"], row["question_index"]))
            yield "bbq", *pair, row["category"], None, row["template"]


def antonyms(tables: Path) -> dict[str, str]:
    return {row["predicate"]: row["text"] for row in read_table(tables / "bias_public_biasasker.jsonl")
            if row["form"] == "antonym"}


def build(tables: Path) -> list[dict]:
    antonym_of = antonyms(tables)
    rows, seen = [], set()
    for source, group, predicate, category, severity, split_key in pairs(tables):
        assert split_of(split_key) == "dev", (source, split_key)
        predicate = predicate.strip().rstrip(".!")
        common = {"category": category, "severity": severity, "source": "counterfactual", "split": "dev",
                  "from_source": source, "group": group, "predicate": predicate, "split_key": split_key}
        made = list(variants(group, predicate, f"{source} {group} {predicate}"))
        if source == "biasasker" and predicate in antonym_of:
            made.append(("antonym", "endorsed", "modern", antonym_of[predicate]))
        for form, label, register, text in made:
            key = normalise(text)
            if key in seen:
                continue
            seen.add(key)
            rows.append({"text": text, "label": label, "form": form, "register": register, **common})
    return rows


LICENCE = """bias_counterfactual.jsonl: template sentences written by phaselog (bias_tooling/counterfactual_table.py)
around groups and predicates taken from the dev halves of these tables, whose sources and licences apply to those
words (see each table's licence file beside it):
  bias_public_biasasker.jsonl  BiasAsker (MIT, per its dataset card; its predicates from Social Bias Frames, CC BY 4.0)
  bias_public_seegull.jsonl    SeeGULL (CC BY 4.0)
  bias_public_winoqueer.jsonl  HEARTS / WinoQueer (MIT)
  bias_public_bbq.jsonl        BBQ (CC BY 4.0)
Attribution: Wan et al., BiasAsker, ESEC/FSE 2023; Sap et al., Social Bias Frames, ACL 2020; Jha et al., SeeGULL,
ACL 2023; King et al., HEARTS, 2024, and Felkner et al., WinoQueer, ACL 2023; Parrish et al., BBQ, Findings of ACL
2022. The templates and the labels are phaselog's. CC BY 4.0: https://creativecommons.org/licenses/by/4.0/
"""


def main(argv: list[str]) -> None:
    tables, out = Path(argv[0]), Path(argv[1])
    write_table(without_test_sentences(build(tables), out), out, LICENCE)


if __name__ == "__main__":
    main(sys.argv[1:])
