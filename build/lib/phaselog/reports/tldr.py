"""The TL;DR: the claims of reports/claims.py, each a sentence stating figures the sections below show in full."""
from phaselog.reports.claims import claims
from phaselog.reports.document import Bullets, Heading
from phaselog.reports.gather import ReportData


def section(data: ReportData) -> list:
    return [Heading(2, "TL;DR"), Bullets([c.text + "." for c in claims(data)])]
