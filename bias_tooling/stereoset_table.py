"""Build bias_tooling/data/bias_public_stereoset.jsonl: StereoSet's stereotype and anti-stereotype sentences, the
same frame with the stereotype and with its opposite (CC BY-SA 4.0: the table keeps that licence, in a file of its
own).

StereoSet (Nadeem, Bethke, Reddy: "StereoSet: Measuring stereotypical bias in pretrained language models", ACL
2021, https://github.com/moinnadeem/StereoSet; licence CC BY-SA 4.0) has crowd workers write, for a target
(a people, a profession, a gender term, a religion), a context and three sentences, labelled by five others as
stereotype, anti-stereotype or unrelated: intrasentence ("The chess player was BLANK." -> "... was asian.") and
intersentence ("Many people live in Ethiopia." + "The people are very thin and good at distance running."). Its
data files (`data/dev.json` of that repository, and bias-bench's `dev.json` and `test.json`) are too large for the
snapshots that can be fetched here; xiaoxuanli-a/PhD_StereoSet (https://github.com/xiaoxuanli-a/PhD_StereoSet,
commit 1f49e90) keeps, per domain, every example of those two files as {prompt: the context, chosen: the
anti-stereotype sentence, rejected: the stereotype sentence} (`data/<domain>_data.json`, built by its
`extract_subset.ipynb` from the gold labels; the unrelated sentences and StereoSet's ids are not kept), and that
is read here. Run once, from a clone of it, with StereoSet's own licence file beside the data:

    python -m phaselog.bias_tooling.stereoset_table PATH/TO/PHD_STEREOSET PATH/TO/STEREOSET/LICENSE.md \\
        bias_tooling/data/bias_public_stereoset.jsonl

Per sentence: `text` (intrasentence: the sentence; intersentence: the context and the sentence), `stereoset_label`
(stereotype | anti-stereotype), `task`, `domain` (StereoSet's), `category` (ours: race -> ethnicity, most of its
targets being peoples and countries; profession -> other), `context`. `label` is null: StereoSet labels which
association a sentence makes, not whether it asserts a generalisation ("The chess player was asian." is about one
person, "Mothers are caring." about all), so it maps to none of ours; `severity` null. A sentence under both
labels is dropped. `split`: the frozen sha256 rule applied to the context (with BLANK for intrasentence), so a
frame's stereotype and anti-stereotype are on one side."""
import json
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import split_of, unambiguous, without_test_sentences, write_table

CATEGORY = {"gender": "gender", "profession": "other", "race": "ethnicity", "religion": "religion"}


def build(phd_stereoset: Path) -> list[dict]:
    def entries():
        for domain in CATEGORY:
            examples = json.loads((phd_stereoset / "data" / f"{domain}_data.json").read_text(encoding="utf-8"))
            for index, example in enumerate(examples):
                context = example["prompt"].strip()
                task = "intrasentence" if "BLANK" in context else "intersentence"
                for key, label in (("rejected", "stereotype"), ("chosen", "anti-stereotype")):
                    sentence = example[key].strip()
                    text = sentence if task == "intrasentence" else f"{context} {sentence}"
                    yield text, label, {"text": text, "label": None, "category": CATEGORY[domain], "severity": None,
                                        "source": "stereoset", "split": split_of(context), "stereoset_label": label,
                                        "task": task, "domain": domain, "context": context, "index": index}
    return unambiguous(entries())


def licence(stereoset_licence: Path) -> str:
    return ("bias_public_stereoset.jsonl is derived from StereoSet: Moin Nadeem, Anna Bethke, Siva Reddy. "
            "\"StereoSet: Measuring stereotypical bias in pretrained language models\". ACL 2021. "
            "https://github.com/moinnadeem/StereoSet (licence below, from commit "
            "ead7d086a64a192a1eca88e0dd2fd163de375218), read from the per-domain copy of its dev and test examples in "
            "https://github.com/xiaoxuanli-a/PhD_StereoSet (commit 1f49e90b687a18c844411700c8fb9c6dede8328b). "
            "Licensed CC BY-SA 4.0: this derived table is under the same licence.\nChanges made by phaselog "
            "(bias_tooling/stereoset_table.py): intersentence contexts joined to their sentence; StereoSet's gold "
            "label kept; categories and the split are phaselog's.\n\n"
            + stereoset_licence.read_text(encoding="utf-8"))


def main(argv: list[str]) -> None:
    phd_stereoset, stereoset_licence, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    write_table(without_test_sentences(build(phd_stereoset), out), out, licence(stereoset_licence))


if __name__ == "__main__":
    main(sys.argv[1:])
