"""Build bias_tooling/data/bias_public_winoqueer.jsonl: HEARTS's WinoQueer triples, a stereotype about an LGBTQ+
group beside a non-stereotypical statement and an unrelated one in the same frame.

HEARTS (King, Wu, Koshiyama, Kazim, Treleaven: "HEARTS: A Holistic Framework for Explainable, Sustainable and
Robust Text Stereotype Detection", 2024, https://github.com/holistic-ai/HEARTS-Text-Stereotype-Detection, commit
3cbeabb; MIT licence) ships `Model Training and Evaluation/Winoqueer - GPT Augmentation.csv`: 1,088 stereotypes
from WinoQueer (Felkner, Chang, Jang, May: "WinoQueer: A Community-in-the-Loop Benchmark for Anti-LGBTQ+ Bias in
Large Language Models", ACL 2023; its stereotypes come from a survey of LGBTQ+ people, not from CrowS-Pairs) in
four frames ("Bisexual people are X.", "all lesbians are X.", "most people who are Gay are X", "we expect that
Asexual people are X."), and for each group and frame as many `neutral` and `unrelated` sentences that HEARTS
wrote with GPT ("most people who are Bisexual are independent.", "... can't be clouds"). Run once, from a clone:

    python -m phaselog.bias_tooling.winoqueer_table PATH/TO/HEARTS bias_tooling/data/bias_public_winoqueer.jsonl

`label`: a stereotype and a neutral sentence both state a trait of the group as a whole, so both are `endorsed`
(HEARTS's own label, kept as `hearts_label`, says which is the stereotype); an unrelated sentence is nonsense
("Queer people are rivers") and maps to none (null). `severity` null: no offensiveness is given. The neutral and
unrelated sentences are machine-written, the stereotypes people's. Text whose UTF-8 was decoded twice in the
file ("arenâ€™t") is repaired. `split`: the frozen sha256 rule applied to the `predicate`, the sentence after its
frame and group ("are sinful"), so a predicate is on one side for every group and frame."""
import csv
import re
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import split_of, unambiguous, without_test_sentences, write_table

FILE = "Model Training and Evaluation/Winoqueer - GPT Augmentation.csv"
FRAME = re.compile(r"(?i)(?:we expect that |all |most )?(?:people who are [\w-]+|[\w-]+ people|[\w-]+)\s+(?P<pred>.+)")
GENDER_GROUPS = {"Transgender", "NB"}  # WinoQueer's gender identities; the other groups are orientations
LABEL = {"stereotype": "endorsed", "neutral": "endorsed", "unrelated": None}


def repaired(text: str) -> str:
    """UTF-8 read as cp1252 and written again ("â€™") back to what was meant ("’"). cp1252 leaves 0x9d undefined,
    and the file holds it as U+009D, which latin-1 gives back as the byte."""
    if "â€" not in text:
        return text
    try:
        return b"".join(ch.encode("cp1252") if ch != "\x9d" else b"\x9d" for ch in text).decode("utf-8")
    except UnicodeError:
        return text


def build(hearts: Path) -> list[dict]:
    def entries():
        with (hearts / FILE).open(encoding="utf-8-sig", newline="") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                text = repaired(row["text"].strip())
                predicate = FRAME.fullmatch(text)["pred"].rstrip(".").strip()
                yield text, row["label"], {
                    "text": text, "label": LABEL[row["label"]],
                    "category": "gender" if row["group"] in GENDER_GROUPS else "sexual_orientation",
                    "severity": None, "source": "winoqueer", "split": split_of(predicate),
                    "hearts_label": row["label"], "group": row["group"], "predicate": predicate, "line": line}
    return unambiguous(entries())


def licence(hearts: Path) -> str:
    return ("bias_public_winoqueer.jsonl is derived from HEARTS: Theo King, Zekun Wu, Adriano Koshiyama, Emre Kazim, "
            "Philip Treleaven. \"HEARTS: A Holistic Framework for Explainable, Sustainable and Robust Text Stereotype "
            "Detection\". 2024. https://github.com/holistic-ai/HEARTS-Text-Stereotype-Detection (commit "
            "3cbeabb30e3589723bbb1d81ff1d728d9b85ffaa), \"Model Training and Evaluation/Winoqueer - GPT "
            "Augmentation.csv\", whose stereotypes are from WinoQueer: Virginia K. Felkner, Ho-Chun Herbert Chang, "
            "Eugene Jang, Jonathan May. \"WinoQueer: A Community-in-the-Loop Benchmark for Anti-LGBTQ+ Bias in Large "
            "Language Models\". ACL 2023. Licensed under the MIT licence of the HEARTS repository (below).\nChanges "
            "made by phaselog (bias_tooling/winoqueer_table.py): doubly decoded UTF-8 repaired, duplicate texts "
            "kept once; labels, categories and the split are phaselog's.\n\n"
            + (hearts / "LICENSE").read_text(encoding="utf-8"))


def main(argv: list[str]) -> None:
    hearts, out = Path(argv[0]), Path(argv[1])
    write_table(without_test_sentences(build(hearts), out), out, licence(hearts))


if __name__ == "__main__":
    main(sys.argv[1:])
