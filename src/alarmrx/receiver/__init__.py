"""asyncio adapters over the protocol core: TCP and UDP in, journal, replies out."""

from alarmrx.receiver.handler import FrameHandler, Outcome
from alarmrx.receiver.metrics import ReceiverMetrics
from alarmrx.receiver.server import Receiver

__all__ = ["FrameHandler", "Outcome", "Receiver", "ReceiverMetrics"]
