"""The frozen public test set (issue #25): ToxiGen's human-written seed sentences, split by sha256 into a dev half
that may be read and tuned on and a test half that is only scored (understanding/toxigen_table.py,
docs/detectors.md "Evaluation protocol"). The file is committed (CDLA-Permissive 2.0), so this runs in CI."""
import json
from pathlib import Path

from phaselog.understanding.bias import SEVERITIES, scan_bias

PUBLIC = [json.loads(line) for line in (Path(__file__).parent / "data" / "bias_public_toxigen.jsonl").open()]


def figures(split: str) -> dict:
    """Per type: the share flagged at medium or above (a hateful generalisation is never merely flattering)."""
    flagged: dict[str, list[bool]] = {}
    for row in PUBLIC:
        if row["split"] == split:
            worst = max((f.severity for f in scan_bias(row["text"])), key=SEVERITIES.index, default="none")
            flagged.setdefault(row["type"], []).append(worst in ("medium", "high"))
    return {kind: (sum(hits), len(hits)) for kind, hits in flagged.items()}


def test_public_set_is_the_frozen_split():
    """The split is a function of the text alone; the sizes pin the frozen file (rebuild it only on purpose)."""
    counts = {(split, kind): sum(r["split"] == split and r["type"] == kind for r in PUBLIC)
              for split in ("dev", "test") for kind in ("explicit", "implicit", "neutral")}
    assert counts == {("dev", "explicit"): 170, ("dev", "implicit"): 31, ("dev", "neutral"): 180,
                      ("test", "explicit"): 179, ("test", "implicit"): 44, ("test", "neutral"): 165}


def test_public_test_recall_and_neutrals_flagged():
    """The figures of docs/detectors.md; the bars are the measured test figures less a little slack."""
    for split in ("dev", "test"):
        row = figures(split)
        print(f"public {split}: " + ", ".join(f"{kind} {hits}/{n} = {hits / n:.3f}" for kind, (hits, n) in
                                            sorted(row.items())))
    hits, n = figures("test")["explicit"]
    flagged, neutrals = figures("test")["neutral"]
    assert hits / n >= 0.22  # measured 42/179 = 0.235 (see docs/detectors.md)
    assert flagged / neutrals <= 0.08
