"""Names for codes in the report: province codes as the boundaries name them."""

from __future__ import annotations

from restore_db.publish.report.data import ReportData


def province_names(data: ReportData, codes: str | None) -> str | None:
    """Province codes as bi lists them ("110000,130000") as names where the boundaries hold them ("北京市, 河北省");
    a code without a name stays a code."""
    if codes is None:
        return None
    names = dict(zip(data.provinces.code, data.provinces.name)) if len(data.provinces) else {}
    return ", ".join(names.get(c.strip()) or c.strip() for c in str(codes).split(","))
