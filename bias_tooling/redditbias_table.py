"""Build bias_tooling/data/bias_public_redditbias.jsonl, a second public bias set, from RedditBias's annotated comments.

RedditBias (Barikeri, Lauscher, Vulic, Glavas, ACL 2021, https://github.com/umanlp/RedditBias, MIT licence for
the repository and its data) holds Reddit comments selected because a group word (women, LGBTQ, Black people,
Jews, Muslims) stands near an attribute word, each annotated by hand `bias_sent` 1 (the comment is biased) or 0
(`data/*/reddit_comments_*_processed_phrase_annotated.csv`). Its unbiased half is therefore text about groups
that already has the words of a stereotype in it: counter-speech, reports, questions. It measures how often the
detector flags those, which ToxiGen's neutral seeds barely test. Run once, from a clone of that repository:

    python -m phaselog.bias_tooling.redditbias_table PATH/TO/REDDITBIAS bias_tooling/data/bias_public_redditbias.jsonl

Per comment: `text`, `group` (RedditBias's file), `category` (ours), `label` (biased | unbiased) and `split`,
by the frozen sha256 rule of docs/detectors.md (public_sets.split_of). A comment under both labels is dropped:
nobody can say which it is. (RedditBias's comments are at most 199 characters, a sentence or two.)"""
import csv
import sys
from pathlib import Path

from phaselog.bias_tooling.public_sets import split_of, unambiguous, write_table

CATEGORY = {"gender_female": "gender", "orientation_lgbtq": "sexual_orientation", "race_black": "ethnicity",
            "religion1_jews": "religion", "religion2_muslims": "religion"}


def build(redditbias: Path) -> list[dict]:
    def entries():
        for path in sorted((redditbias / "data").glob("*/reddit_comments_*_processed_phrase_annotated.csv")):
            group = path.name.removeprefix("reddit_comments_").removesuffix("_processed_phrase_annotated.csv")
            with path.open(encoding="utf-8", errors="replace", newline="") as f:
                for row in csv.DictReader(f):
                    text, mark = row["comment"].strip(), (row.get("bias_sent") or "").strip()
                    if mark in ("0", "1") and text:
                        yield text, mark, {"text": text, "group": group, "category": CATEGORY[group],
                                           "label": "biased" if mark == "1" else "unbiased"}
    return [{**row, "split": split_of(row["text"])} for row in unambiguous(entries())]


def main(argv: list[str]) -> None:
    redditbias, out = Path(argv[0]), Path(argv[1])
    write_table(build(redditbias), out, (redditbias / "LICENSE").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(sys.argv[1:])
