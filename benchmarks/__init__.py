"""The load benchmark: alarmrx side by side with pysiaalarm and a stub receiver.

``python -m benchmarks.run`` runs the matrix and writes ``docs/performance.md``. The load
generator builds valid DC-09 frames with ``alarmrx.protocols``, sends them over persistent
TCP connections or UDP the way panels do (one frame, then wait for the reply), checks every
reply and measures latency; the receiver's CPU time and peak memory come from ``/proc``.
"""
