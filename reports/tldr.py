"""The TL;DR: a handful of statements derived from the numbers the sections below show in full."""
from reports.couplings import backed, couplings, sentence
from reports.document import Bullets, Heading
from reports.gather import ReportData
from reports.model_sections import looped_samples, signature
from reports.numbers import loss_story, most_common, num, steps
from reports.training_sections import bucket_width, data_changes
from reports.uptake import surfaced_statements


def statements(data: ReportData) -> list[str]:
    out = []
    story = loss_story(data.metrics["step"], data.metrics["loss"], bucket_width(data))
    if story:
        out.append(story[0].upper() + story[1:])
    bpb = [e for e in data.evals if e["name"] == "val_bpb"]
    if bpb:
        out.append(f"Validation bpb {num(bpb[0]['value'])} at step {steps(bpb[0]['step'])} → "
                   f"{num(bpb[-1]['value'])} at step {steps(bpb[-1]['step'])}")
    out += [c[0].upper() + c[1:] for c in data_changes(data)]
    if data.health:
        unhealthy = [h for h in data.health if h["status"] != "healthy"]
        out.append("Health stayed healthy at every check" if not unhealthy else
                   f"Health left healthy at {len(unhealthy)} of {len(data.health)} checks "
                   f"(first at step {steps(unhealthy[0]['step'])}: {unhealthy[0]['status']})")
    if data.bias_events is not None or data.reviews is not None:
        # probe rows are measurements at every segment end, not findings
        events = [e for e in data.bias_events or [] if e["source"] != "probe"]
        high = sum(1 for e in events if e["severity"] == "high")
        pauses = len(data.reviews or [])
        out.append(f"{len(events)} bias event{'s' if len(events) != 1 else ''} ({high} high severity) and "
                   f"{pauses} review pause{'s' if pauses != 1 else ''}")
    if data.reflections:
        looped = looped_samples(data)
        kinds = [signature(r, looped) for r in data.reflections]
        top = most_common(kinds)
        out.append(f"The dominant self-play signature was {top} ({kinds.count(top)} of {len(kinds)} reflections)")
    out += [s[0].upper() + s[1:] for s in surfaced_statements(data)]
    strongest = [c for c in couplings(data) if backed(c)][:1]
    out += [sentence(c).rstrip(".") for c in strongest]
    return out


def section(data: ReportData) -> list:
    return [Heading(2, "TL;DR"), Bullets([s + "." for s in statements(data)])]
