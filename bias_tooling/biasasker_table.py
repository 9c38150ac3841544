"""Build bias_tooling/data/bias_public_biasasker.jsonl: BiasAsker's stereotype predicates and their antonyms, each
said of a group, as stance-contrast training data (issue #39).

BiasAsker (Wan, Wang, He, Gu, Bai, Lyu: "BiasAsker: Measuring the Bias in Conversational AI System", ESEC/FSE
2023, https://github.com/yxwan123/BiasAsker, commit 92978c5) holds 7,343 biased properties written as predicates
with the group left out ("are lazy", "can't drive"), collected from Social Bias Frames (Sap et al., ACL 2020, CC BY
4.0) and annotated with bias dimensions (`dataset/bias_annotation.csv`), the antonyms of 6,831 of them ("are
hardworking", `dataset/antonym_annotation.csv`) and 1,262 groups with a category (`dataset/groups.csv`). The
repository carries no licence file; its dataset card on Hugging Face (iforgott/BiasAsker) states MIT. Run once,
from a clone of that repository:

    python -m phaselog.bias_tooling.biasasker_table PATH/TO/BIASASKER bias_tooling/data/bias_public_biasasker.jsonl

BiasAsker does not say which group a predicate was said of, so each predicate is said of one group picked by the
sha256 of the predicate, first one of six categories (below), then one of BiasAsker's "<words> people" groups in
it (so all six get a share; the group rarely fits the predicate: it is a carrier for the stance): the sentence is
"<Group> <predicate>." (`form` assertion) and, where BiasAsker gives an antonym, "<Group> <antonym>." (`form`
antonym). Both are generalisations asserted by the writer, so `label` is `endorsed`; the antonym is the
counter-stereotype (a trainer reads `form` for how bad). BiasAsker gives no offensiveness: `severity` is null.
Kept are predicates that read as a plural verb phrase after a group: not those opening with a function word or a
singular verb ("is", "has", "with disorders are funny", "immigrants fake ..."), nor an antonym equal to its
predicate. `split` is the frozen sha256 rule applied to the predicate (as HateCheck's to its template), so a
predicate, its antonym and the counterfactual sentences made from it (counterfactual_table.py) are on one side."""
import csv
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import normalise, pick, split_of, without_test_sentences, write_table

# BiasAsker's group categories with a category of ours; "gender" holds the orientations too (sorted out below)
CATEGORY = {"race": "ethnicity", "religion": "religion", "age": "age", "ability": "disability",
            "body": "physical_appearance", "gender": "gender"}
ORIENTATION_WORDS = ("gay", "lesbian", "bisexual", "bi ", "asexual", "aromantic", "queer", "pansexual",
                     "demisexual", "lgb", "homosexual", "heterosexual", "straight")
# a predicate opening with one of these is a fragment or a singular clause, not a verb phrase after a plural group
NOT_PLURAL_VERB = {"is", "has", "does", "was", "with", "who", "of", "in", "and", "from", "that", "being", "to", "for",
                   "on", "at", "by", "as", "than", "the", "a", "an", "if", "when", "because", "or", "but", "their",
                   "they", "them", "it", "this", "these", "those", "so", "like", "getting", "having", "about",
                   "against", "doesnt", "doesn't", "isn't", "wasn't", "hasn't", "black"}


def reads_as_plural_predicate(predicate: str) -> bool:
    words = predicate.split()
    if not words:
        return False
    first = words[0].lower()
    return first not in NOT_PLURAL_VERB and (not first.endswith("s") or first in ("always", "less"))


def groups(biasasker: Path) -> dict[str, list[str]]:
    """Our category -> BiasAsker's "<words> people" groups of it, sorted."""
    found: dict[str, set] = {}
    with (biasasker / "dataset" / "groups.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            name = row["Group"].strip()
            if row["Category"] not in CATEGORY or not name.endswith(" people") or "/" in name or '"' in name:
                continue
            if name.lower().startswith(("all ", "non-", "non ")):
                continue
            category = CATEGORY[row["Category"]]
            if category == "gender" and any(word in name.lower() + " " for word in ORIENTATION_WORDS):
                category = "sexual_orientation"
            found.setdefault(category, set()).add(name)
    return {category: sorted(names) for category, names in sorted(found.items())}


def sentence(group: str, predicate: str) -> str:
    return f"{group[0].upper()}{group[1:]} {predicate.strip().rstrip('.!')}."


def build(biasasker: Path) -> list[dict]:
    people = groups(biasasker)
    with (biasasker / "dataset" / "antonym_annotation.csv").open(encoding="utf-8", newline="") as f:
        antonyms = {row["Sentence"].strip(): row["Antonym"].strip() for row in csv.DictReader(f)}
    rows, seen = [], set()
    with (biasasker / "dataset" / "bias_annotation.csv").open(encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            predicate = row["Sentence"].strip()
            if normalise(predicate) in seen or not reads_as_plural_predicate(predicate):
                continue
            seen.add(normalise(predicate))
            category = pick(list(people), predicate)  # the category first, so that each gets a share
            group = pick(people[category], category + " " + predicate)
            antonym = antonyms.get(predicate, "")
            if normalise(antonym) == normalise(predicate) or not reads_as_plural_predicate(antonym):
                antonym = ""
            common = {"category": category, "severity": None, "source": "biasasker", "split": split_of(predicate),
                      "predicate": predicate, "group": group,
                      "bias_dimensions": [label.strip() for label in row["Labels"].split(",") if label.strip()],
                      "line": line}
            rows.append({"text": sentence(group, predicate), "label": "endorsed", "form": "assertion", **common})
            if antonym:
                rows.append({"text": sentence(group, antonym), "label": "endorsed", "form": "antonym", **common})
    return rows


LICENCE = """bias_public_biasasker.jsonl is derived from the BiasAsker dataset:
  Yuxuan Wan, Wenxuan Wang, Pinjia He, Jiazhen Gu, Haonan Bai, Michael R. Lyu. "BiasAsker: Measuring the Bias in
  Conversational AI System". ESEC/FSE 2023. https://github.com/yxwan123/BiasAsker (commit
  92978c50f3f69f0cb89b3d682bf95dd1b4896585), dataset/bias_annotation.csv, antonym_annotation.csv, groups.csv.
The repository carries no licence file; the dataset's card on Hugging Face (datasets/iforgott/BiasAsker) states
the MIT licence. Its biased properties were collected from Social Bias Frames:
  Maarten Sap, Saadia Gabriel, Lianhui Qin, Dan Jurafsky, Noah A. Smith, Yejin Choi. "Social Bias Frames:
  Reasoning about Social and Power Implications of Language". ACL 2020. Licensed CC BY 4.0
  (https://creativecommons.org/licenses/by/4.0/).
Changes made by phaselog (bias_tooling/biasasker_table.py): each kept predicate and its antonym are said of one
BiasAsker group picked by the predicate's sha256, as a sentence "<Group> <predicate>."; predicates that do not read
as a plural verb phrase are left out; labels, categories and the split are phaselog's.

MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of
the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def main(argv: list[str]) -> None:
    biasasker, out = Path(argv[0]), Path(argv[1])
    write_table(without_test_sentences(build(biasasker), out), out, LICENCE)


if __name__ == "__main__":
    main(sys.argv[1:])
