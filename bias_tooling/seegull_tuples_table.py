"""Build bias_tooling/data/bias_public_seegull.jsonl: SeeGULL's (identity, attribute) tuples, each as the plain
sentence that asserts it, with its raters' stereotype votes and offensiveness.

SeeGULL (Jha, Mostafazadeh Davani, Reddy, Dave, Prabhakaran, Dev: "SeeGULL: A Stereotype Benchmark with Broad
Geo-Cultural Coverage Leveraging Generative Models", ACL 2023, https://github.com/google-research-datasets/seegull;
CC BY 4.0; the copy in ../shared/data/bias/seegull, `stereotypes_global_v2.csv`) holds 6,781 tuples of a
nationality and an attribute, each voted a stereotype or not by three raters of the region and three in North
America, and rated for offensiveness (-1 not offensive to 4 very). (lexicons/seegull_nationality.v2.json, built by
seegull_table.py, is the detector's small word list from the same file.) Run once (needs the `tooling` extra):

    python -m phaselog.bias_tooling.seegull_tuples_table ../shared/data/bias/seegull \\
        bias_tooling/data/bias_public_seegull.jsonl

The sentence is "<group> <attribute as a predicate>.": the group is "<Identity> people" ("Zimbabwean people"),
the identity itself when SeeGULL gives a plural ("Afghans"), "People from <place>" when it gives a place; the
attribute follows "are" when it is an adjective ("are poor", "are good at making car": SeeGULL's attributes are
lemmatised), "are" and its plural when a noun for people ("are beggars", by a short list and the endings -er,
-or, -ist, -ian, -ard, -ee, -man), "are known for" and the noun when another ("are known for wine"),
alone when a verb phrase ("love pasta"), and "are" with the participle when SeeGULL lemmatised one to its verb
("oppress" -> "are oppressed"), as lemminflect's lexicon reads the first word (an unknown word is read as an
adjective). SeeGULL's attributes are noisy ("cheese eating surrender monkey", "countries and nationality"), and
so are some sentences. Every row asserts a trait of a group as a
whole, so `label` is `endorsed`, and `stereotype` says whether 2 of 3 raters of either pool called it one.
`severity` from the mean offensiveness as the detector grades a SeeGULL attribute: >= 3 high, >= 1 medium, below
low. `split`: the frozen sha256 rule on the sentence."""
import csv
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import split_of, without_test_sentences, write_table

PLACES = {"Christmas Island": "Christmas Island", "Cocos Island": "the Cocos Islands", "Gibraltar": "Gibraltar",
          "Guernsey": "Guernsey", "Hong Kong": "Hong Kong", "Laos": "Laos", "Luxembourg": "Luxembourg",
          "Myanmar": "Myanmar", "New Zealand": "New Zealand", "Singapore": "Singapore",
          "United KingdomUK": "the United Kingdom", "United States": "the United States", "Botswana": "Botswana",
          "Philippine": "the Philippines"}


def group_of(identity: str) -> str:
    if identity in PLACES:
        return f"People from {PLACES[identity]}"
    if identity.endswith("s") and not identity.endswith(("ss", "ese")):  # "Afghans", "Greeks": already plural
        return identity
    return f"{identity} people"


# nouns for people that no suffix below marks; a noun that is neither is a thing the group is known for ("tire")
PERSON_NOUNS = {"thief", "thug", "slave", "widow", "cheat", "bitch", "cannibal", "convict", "coward", "girl", "gypsy",
                "idiot", "jerk", "maid", "nurse", "pimp", "prince", "queen", "refugee", "slut", "spy", "whore", "witch",
                "woman", "zealot", "traitor", "child", "cowboy", "gaucho", "mogul", "ninja", "robot", "bore", "fraud",
                "mafia", "gang", "pervert", "snob", "drunk", "savage", "brute", "bully", "fool", "liar", "addict",
                "introvert", "extrovert", "mule", "monkey"}
PERSON_ENDINGS = ("er", "or", "ist", "ian", "ard", "ee", "man")
VERB_OPENERS = {"love", "hate", "like", "likes", "liked", "drink", "eat", "smell", "smells", "play", "work", "works",
                "talk", "wear", "speak", "smoke", "prefer", "dance", "swim", "sing", "steal"}


def predicate_of(attribute: str) -> str:
    from lemminflect import getAllLemmas, getInflection  # the tooling extra: rebuilding only, never a test or a run
    words = attribute.split()
    first = getAllLemmas(words[0])
    if words[0] in VERB_OPENERS or (len(words) > 1 and "VERB" in first and not {"ADJ", "NOUN"} & set(first)):
        return attribute  # a verb phrase: "love pasta", "ate sushi"
    if "ADJ" in first or "ADV" in first or not first:
        return f"are {attribute}"
    if "NOUN" not in first:  # SeeGULL lemmatised a participle to its verb ("oppress", "civilize")
        participle = getInflection(words[0], "VBN")
        return "are " + " ".join([participle[0] if participle else words[0]] + words[1:])
    last = words[-1]
    plural = " ".join(words[:-1] + [(getInflection(last, "NNS") or (last + "s",))[0]])
    if last in PERSON_NOUNS or last.endswith(PERSON_ENDINGS):
        return f"are {plural}"
    return f"are known for {attribute}"  # the singular: most are mass nouns ("wine", "discipline", "curry")


def severity_of(offensiveness: float) -> str:
    return "high" if offensiveness >= 3 else "medium" if offensiveness >= 1 else "low"


def build(seegull: Path) -> list[dict]:
    rows = []
    with (seegull / "stereotypes_global_v2.csv").open(encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            identity, attribute = row["identity"].strip(), row["attribute"].strip()
            group, predicate = group_of(identity), predicate_of(attribute)
            text = f"{group} {predicate}."
            offensiveness = round(float(row["mean offensiveness_score"]), 3)
            rows.append({"text": text, "label": "endorsed", "category": "nationality",
                         "severity": severity_of(offensiveness), "source": "seegull", "split": split_of(text),
                         "identity": identity, "attribute": attribute, "group": group, "predicate": predicate,
                         "region_stereo": int(row["region_stereo"]), "NA_stereo": int(row["NA_stereo"]),
                         "stereotype": int(row["region_stereo"]) >= 2 or int(row["NA_stereo"]) >= 2,
                         "offensiveness": offensiveness, "line": line})
    return rows


def licence(seegull: Path) -> str:
    return ("bias_public_seegull.jsonl is derived from SeeGULL: Akshita Jha, Aida Mostafazadeh Davani, Chandan K. "
            "Reddy, Shachi Dave, Vinodkumar Prabhakaran, Sunipa Dev. \"SeeGULL: A Stereotype Benchmark with Broad "
            "Geo-Cultural Coverage Leveraging Generative Models\". ACL 2023. "
            "https://github.com/google-research-datasets/seegull, stereotypes_global_v2.csv. Licensed CC BY 4.0 "
            "(https://creativecommons.org/licenses/by/4.0/; below, the licence file of the copy read).\nChanges made "
            "by phaselog (bias_tooling/seegull_tuples_table.py): each tuple written as the sentence asserting it; "
            "labels, severity from the mean offensiveness, and the split are phaselog's.\n\n"
            + (seegull / "LICENSE").read_text(encoding="utf-8"))


def main(argv: list[str]) -> None:
    seegull, out = Path(argv[0]), Path(argv[1])
    write_table(without_test_sentences(build(seegull), out), out, licence(seegull))


if __name__ == "__main__":
    main(sys.argv[1:])
