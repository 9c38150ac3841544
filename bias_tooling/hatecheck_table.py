"""Build bias_tooling/data/bias_public_hatecheck.jsonl, a third public bias set, from HateCheck's functional test suite.

HateCheck (Röttger, Vidgen, Nguyen, Waseem, Margetts, Pierrehumbert: "HateCheck: Functional Tests for Hate
Speech Detection Models", ACL 2021, https://github.com/paul-rottger/hatecheck-data, commit d843022; licence
CC BY 4.0) holds 3,728 short cases in 29 functionalities, written from templates by its authors and kept where
at least four of five annotators agreed with the gold label, over seven groups (women, trans people, gay people,
black people, disabled people, Muslims, immigrants). Half of it is what ToxiGen and RedditBias test poorly:
counter-speech that quotes or names the hate ("If you say 'I hate women', then you are a bigot!"), negated
hate ("I don't hate gay people"), neutral and positive statements about the groups, hate aimed at objects or
non-protected groups, reclaimed slurs. Changes made here: whitespace at the ends of a case is stripped and only
the columns below are kept. Run once, from a clone of that repository:

    python -m phaselog.bias_tooling.hatecheck_table PATH/TO/HATECHECK-DATA bias_tooling/data/bias_public_hatecheck.jsonl

Per case: `text`, `functionality` (HateCheck's, e.g. `counter_quote_nh`; the suffix says the gold label),
`label` (hateful | non-hateful), `target` (HateCheck's group, "" for cases about no protected group),
`category` (ours) and `split`. Cases of one template differ only in the group named ("I hate [IDENTITY_P]."), so
the split is the frozen sha256 rule of docs/detectors.md applied to the template's text, not the case's: a
template's cases are all in `dev` (may be read and tuned on) or all in `test` (scored, never read), and no test
case is a dev case with another group's name in it."""
import csv
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import split_of, unambiguous, write_table

CATEGORY = {"women": "gender", "trans people": "gender", "gay people": "sexual_orientation",
            "black people": "ethnicity", "disabled people": "disability", "Muslims": "religion",
            "immigrants": "migration", "": ""}


def build(hatecheck: Path) -> list[dict]:
    def entries():
        with (hatecheck / "test_suite_cases.csv").open(encoding="utf-8", newline="") as f:
            for case in csv.DictReader(f):
                text, target = case["test_case"].strip(), case["target_ident"]
                yield text, case["label_gold"], {"text": text, "functionality": case["functionality"],
                                                 "label": case["label_gold"], "target": target,
                                                 "category": CATEGORY[target], "split": split_of(case["case_templ"])}
    return unambiguous(entries())


def main(argv: list[str]) -> None:
    hatecheck, out = Path(argv[0]), Path(argv[1])
    write_table(build(hatecheck), out, (hatecheck / "LICENSE").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(sys.argv[1:])
