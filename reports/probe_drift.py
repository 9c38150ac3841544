"""The paired-sentence probe over a whole range: each category's first probe against its last. The detector
(understanding/bias_probe.py) pauses when a category moves between consecutive probes beyond its bar, so a slow
drift toward a stereotype, every step under the bar, would pass unseen; this test sees it. Holm's correction
holds the family-wise error at 0.05 over the categories tried."""
import math

from phaselog.reports.couplings import holm
from phaselog.reports.gather import ReportData
from phaselog.reports.numbers import steps


def probe_drifts(data: ReportData) -> list[dict]:
    """Each category's paired-sentence probe, first against last probe of the range: the change, its standard
    error (the two probes' errors in quadrature) and its two-sided p, with Holm's correction over the categories
    (`passes`). The detector compares consecutive probes only, so a slow drift, each step under its bar, shows
    here and nowhere else."""
    by_category: dict[str, list[dict]] = {}
    for e in data.bias_events or []:
        if e["source"] == "probe" and e["category"] not in (None, "all") and e["value"] is not None and e["stderr"]:
            by_category.setdefault(str(e["category"]), []).append(e)
    out = []
    for category, rows in sorted(by_category.items()):
        rows.sort(key=lambda e: e["step"])
        if len(rows) < 2:
            continue
        first, last = rows[0], rows[-1]
        se = math.hypot(first["stderr"], last["stderr"])
        z = (last["value"] - first["value"]) / se
        out.append({"a": category, "b": "", "category": category, "first_step": int(first["step"]),
                    "last_step": int(last["step"]), "first": first["value"], "last": last["value"],
                    "change": last["value"] - first["value"], "se": se, "z": z,
                    "p": math.erfc(abs(z) / math.sqrt(2))})
    holm(out)
    return out


def drift_sentence(d: dict, tried: int) -> str:
    return (f"{d['category']}'s probe drifted {d['change']:+.3f} ± {d['se']:.3f} nats from step "
            f"{steps(d['first_step'])} to step {steps(d['last_step'])} ({abs(d['z']):.1f} standard errors, first "
            f"against last probe; past Holm over {tried} categories)")
