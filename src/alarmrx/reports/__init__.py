"""Reports read from the journal: the open/close report (``openclose``)."""

from alarmrx.reports.openclose import FORMATS, Arming, armings, render

__all__ = ["FORMATS", "Arming", "armings", "render"]
