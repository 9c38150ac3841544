"""Build lexicons/seegull_nationality.<version>.json from the SeeGULL tuples (CC BY 4.0, Jha et al., ACL 2023).

The detector ships this small derived table so that users need no copy of SeeGULL; the table keeps the
attribution. Run once when the lexicon version changes:

    python -m phaselog.bias_tooling.seegull_table ../shared/data/bias/seegull \
        understanding/lexicons/seegull_nationality.v2.json

Kept: (identity, attribute) tuples that a majority of either rater pool called a stereotype (2 of 3). Per
attribute the table stores the median of those tuples' mean offensiveness (SeeGULL's scale, -1 not offensive to
4 very), which the detector turns into a severity. Demonyms give the nationality group terms ("Zimbabwean" ->
"Zimbabweans"); identities that are place names ("Hong Kong", "United States") are left out."""
import csv
import json
import statistics
import sys
from pathlib import Path

NOT_DEMONYMS = {"Christmas Island", "Cocos Island", "Gibraltar", "Guernsey", "Hong Kong", "Laos", "Luxembourg",
                "Myanmar", "New Zealand", "Singapore", "United KingdomUK", "United States", "Botswana", "Philippine"}
# names that take "the" and no plural s ("the French", "the Swiss")
COLLECTIVE_ENDINGS = ("ese", "ish", "ch", "ss", "sh", "x")


def plural_and_singular(identity: str) -> tuple[str, str]:
    if identity.endswith("s") and not identity.endswith("ss"):  # "Afghans", "Greeks": the data has plurals
        return identity, identity[:-1]
    return identity + "s", identity


def build(seegull: Path, version: str) -> dict:
    stereotypes: dict[str, list[float]] = {}
    demonyms = set()
    with (seegull / "stereotypes_global_v2.csv").open(encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            if int(row["region_stereo"]) < 2 and int(row["NA_stereo"]) < 2:
                continue
            attribute = row["attribute"].strip().lower()
            if row["identity"] not in NOT_DEMONYMS:
                demonyms.add(row["identity"])
            if attribute.replace(" ", "").isalpha():
                stereotypes.setdefault(attribute, []).append(float(row["mean offensiveness_score"]))
    plural, singular, collective = [], [], []
    for identity in sorted(demonyms):
        name = identity.lower()
        if name.endswith(COLLECTIVE_ENDINGS):
            collective.append(name)
            singular.append(name)
        else:
            many, one = plural_and_singular(name)
            plural.append(many)
            singular.append(one)
    return {
        "version": version,
        "about": "Derived from SeeGULL (Jha, Mostafazadeh Davani, Reddy, Dave, Prabhakaran, Dev: 'SeeGULL: A "
                 "Stereotype Benchmark with Broad Geo-Cultural Coverage Leveraging Generative Models', ACL 2023, "
                 "https://github.com/google-research-datasets/seegull), licensed CC BY 4.0 "
                 "(https://creativecommons.org/licenses/by/4.0/). Changes: only tuples that 2 of 3 raters of "
                 "either pool called a stereotype; per attribute the median mean offensiveness (-1 not offensive "
                 "to 4 very) of those tuples; demonyms turned into plural, singular and collective group terms. "
                 "Built by bias_tooling/seegull_table.py.",
        "license": "CC BY 4.0",
        "nationality": {"plural": plural, "singular": singular, "collective": collective, "adjectives": singular},
        "attributes": {a: round(statistics.median(scores), 2) for a, scores in sorted(stereotypes.items())},
    }


if __name__ == "__main__":
    path = Path(sys.argv[2])
    table = build(Path(sys.argv[1]), path.suffixes[-2].lstrip("."))  # the version is in the name: NAME.v2.json
    path.write_text(json.dumps(table, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{path}: {len(table['nationality']['singular'])} demonyms, {len(table['attributes'])} attributes")
