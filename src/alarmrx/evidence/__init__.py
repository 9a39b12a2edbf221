"""Insurance evidence (docs/evidence.md): per account and period, the alarms with their
receipt, disarm and response times, exported with the hash-chain proof of every record
(``export``), checked by a third party without the journal (``verify_bundle``); and the
anchors that publish the chain head off the machine (``anchor``)."""

from alarmrx.evidence.anchor import (
    ANCHOR_INTERVAL,
    Anchor,
    anchor_body,
    anchor_due,
    anchor_payload,
    anchor_record,
    anchor_topic,
    parse_anchor,
)
from alarmrx.evidence.bundle import Exported, Request, export
from alarmrx.evidence.incidents import Incident, Parameters, incidents
from alarmrx.evidence.proof import Proven, verify_bundle
from alarmrx.evidence.sealed import BundleError

__all__ = [
    "ANCHOR_INTERVAL",
    "Anchor",
    "anchor_body",
    "anchor_due",
    "anchor_payload",
    "anchor_record",
    "anchor_topic",
    "parse_anchor",
    "export",
    "Request",
    "Exported",
    "Incident",
    "Parameters",
    "incidents",
    "verify_bundle",
    "Proven",
    "BundleError",
]
