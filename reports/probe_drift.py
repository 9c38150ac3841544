"""The paired-sentence probe over a whole range: each category's first probe against its last, against the other
categories, as the detector reads two consecutive probes (understanding/events.py `probe_shifts`: a young model
moves every preference at once, and that drift is not a stereotype; the others are read here from their own rows,
weighted by their pairs, which is the detector's rest of "all"). The detector pauses when a category moves
between consecutive probes beyond its bar, so a slow drift toward a stereotype, every step under the bar, would
pass unseen; this test sees it. Holm's correction holds the family-wise error at 0.05 over the categories tried."""
import json
import math

from phaselog.reports.couplings import holm
from phaselog.reports.gather import ReportData, config_of
from phaselog.reports.numbers import steps


def probe(row: dict) -> dict | None:
    """A probe row as the detector's figures: preference, stderr and pairs (from its terms); None without pairs."""
    try:
        pairs = json.loads(row["terms"] or "{}").get("pairs")
    except (TypeError, ValueError, AttributeError):
        return None
    return {"preference": row["value"], "stderr": row["stderr"], "pairs": pairs} if pairs else None


def probe_drifts(data: ReportData) -> list[dict]:
    """Each category's paired-sentence probe, first against last probe of the range from review.probe_min_step on
    (where the detector starts judging), against the other categories at the same two probes (their changes
    weighted by their pairs): the change, the others' change, the error (the category's two errors and the others'
    in quadrature, as the detector's) and the two-sided p, with Holm's correction over the categories (`passes`)."""
    # as the detector: a younger model's preferences swing as it learns the language, so its probes are not judged
    young = int((config_of(data).get("review") or {}).get("probe_min_step", 500))
    by_step: dict[int, dict[str, dict]] = {}
    for e in data.bias_events or []:
        if (e["source"] == "probe" and e["category"] not in (None, "all") and e["value"] is not None and e["stderr"]
                and e["step"] >= young):
            figures = probe(e)
            if figures:
                by_step.setdefault(int(e["step"]), {})[str(e["category"])] = figures
    categories = sorted({c for rows in by_step.values() for c in rows})
    out = []
    for category in categories:
        at = sorted(step for step, rows in by_step.items() if category in rows)
        if len(at) < 2:
            continue
        first, last = by_step[at[0]], by_step[at[-1]]
        others = [c for c in categories if c != category and c in first and c in last]
        pairs = sum(first[c]["pairs"] for c in others)
        if not pairs:
            continue
        change = last[category]["preference"] - first[category]["preference"]
        rest = sum(first[c]["pairs"] * (last[c]["preference"] - first[c]["preference"]) for c in others) / pairs
        rest_var = sum(first[c]["pairs"] ** 2 * (first[c]["stderr"] ** 2 + last[c]["stderr"] ** 2)
                       for c in others) / pairs ** 2
        se = math.sqrt(first[category]["stderr"] ** 2 + last[category]["stderr"] ** 2 + rest_var)
        if not se > 0:
            continue
        z = (change - rest) / se
        out.append({"a": category, "b": "", "category": category, "first_step": at[0], "last_step": at[-1],
                    "first": first[category]["preference"], "last": last[category]["preference"], "change": change,
                    "others": rest, "se": se, "z": z, "p": math.erfc(abs(z) / math.sqrt(2))})
    holm(out)
    return out


def drift_sentence(d: dict, tried: int) -> str:
    return (f"{d['category']}'s probe drifted {d['change']:+.3f} nats from step {steps(d['first_step'])} to step "
            f"{steps(d['last_step'])} against {d['others']:+.3f} for the other categories ({abs(d['z']):.1f} "
            f"standard errors of the difference, ± {d['se']:.3f}; first against last probe, past Holm over {tried} "
            "categories)")
