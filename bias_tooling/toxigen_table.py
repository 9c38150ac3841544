"""Build bias_tooling/data/bias_public_toxigen.jsonl, the frozen public bias set, from ToxiGen's human-written seeds.

ToxiGen (Hartvigsen et al., ACL 2022, https://github.com/microsoft/TOXIGEN) ships, per target group, the
sentences its authors collected and wrote as demonstrations (`demonstrations/`, and `prompts/`, which chains
them five to a prompt): hateful ones and neutral ones that mention the same group. The data is under the
Community Data License Agreement - Permissive 2.0, which allows sharing it with the agreement's text; the built
file therefore goes with bias_tooling/data/bias_public_toxigen.LICENSE.txt. Run once, from a clone of that repository:

    python -m phaselog.bias_tooling.toxigen_table PATH/TO/TOXIGEN bias_tooling/data/bias_public_toxigen.jsonl

Per sentence: `text`, `group` (ToxiGen's target), `category` (ours), `label` (hate | neutral, ToxiGen's file),
`type` and `split`. `type` is decided here by one rule fixed before any scoring: a hateful sentence that names
its target with one of the group words below is `explicit`, one that does not ("she is probably on her period")
is `implicit`; neutral sentences are `neutral`. `split` is the frozen protocol of docs/detectors.md: the first
byte of sha256(normalised text) even -> `dev` (may be read and tuned on), odd -> `test` (scored, never tuned on).
A sentence found under both labels is dropped: nobody can say which it is."""
import re
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import split_of, unambiguous, write_table

CATEGORY = {"asian": "ethnicity", "black": "ethnicity", "latino": "ethnicity", "native_american": "ethnicity",
            "chinese": "nationality", "mexican": "nationality", "middle_east": "nationality",
            "immigrant": "migration", "jewish": "religion", "muslim": "religion", "bisexual": "sexual_orientation",
            "lgbtq": "sexual_orientation", "trans": "gender", "women": "gender",
            "mental_disability": "disability", "physical_disability": "disability"}
# the words that name each target: written from ToxiGen's group names, not from the detector's lexicons
GROUP_WORDS = {
    "asian": r"asians?|asia",
    "black": r"blacks?|african[- ]?americans?|afro[- ]?americans?|africans?|negro(es)?",
    "latino": r"latin[oax]s?|latinx|hispanics?",
    "native_american": r"natives?|native americans?|indians?|indigenous|tribes?|tribal",
    "chinese": r"chinese|china",
    "mexican": r"mexicans?|mexico",
    "middle_east": r"arabs?|arabic|middle[- ]east(ern)?|iran(ians?)?|iraq(is?)?|syrian?s?|muslims?|saudis?",
    "immigrant": r"immigrants?|immigration|migrants?|refugees?|illegals?|aliens?|foreigners?",
    "jewish": r"jews?|jewish|judaism",
    "muslim": r"muslims?|islam(ic)?|moslems?",
    "bisexual": r"bisexuals?|bisexuality|bi",
    "lgbtq": r"gays?|lesbians?|lgbtq?\+?|queers?|homosexuals?|homosexuality|trans|transgenders?|bisexuals?",
    "trans": r"trans|transgenders?|transsexuals?|trannies|tranny|transwom[ae]n|transm[ae]n",
    "women": r"wom[ae]n|females?|girls?|wives|wife|lad(y|ies)|girlfriends?",
    "mental_disability": r"mentally|mental(ly)? ill(ness)?|autis(m|tic)|retard(ed|s)?|disabled|disabilit(y|ies)|"
                         r"down syndrome|schizophreni(a|cs?)|bipolar|depressed|adhd|dyslexi(a|c)",
    "physical_disability": r"disabled|disabilit(y|ies)|wheelchairs?|blind|deaf|handicapped|crippled?s?|amputees?|"
                           r"paralyzed|paraplegics?",
}
MATCHERS = {group: re.compile(rf"\b({words})\b", re.IGNORECASE) for group, words in GROUP_WORDS.items()}
SEED_FILE = re.compile(r"(hate|neutral)_(.+?)(_sentences|_1k)?\.txt$")


def seeds(line: str) -> list[str]:
    """A prompt chains its sentences as '- one\\n- two\\n-' with literal backslash-n; a demonstration is one line."""
    parts = (part.strip() for part in line.split("\\n"))
    return [part[1:].strip() if part.startswith("-") else part for part in parts if part.strip("- ")]


def build(toxigen: Path) -> list[dict]:
    def entries():
        files = sorted((toxigen / "prompts").glob("*.txt")) + sorted((toxigen / "demonstrations").rglob("*.txt"))
        for path in files:
            label, group = SEED_FILE.match(path.name).group(1, 2)
            for line in path.read_text(encoding="utf-8").splitlines():
                for text in seeds(line):
                    yield text, label, {"text": text, "group": group, "category": CATEGORY[group], "label": label}
    rows = []
    for row in unambiguous(entries()):
        if row["label"] == "neutral":
            kind = "neutral"
        else:
            kind = "explicit" if MATCHERS[row["group"]].search(row["text"]) else "implicit"
        rows.append({**row, "type": kind, "split": split_of(row["text"])})
    return rows


def main(argv: list[str]) -> None:
    toxigen, out = Path(argv[0]), Path(argv[1])
    write_table(build(toxigen), out, (toxigen / "LICENSE.txt").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(sys.argv[1:])
