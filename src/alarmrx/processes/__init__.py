"""``alarmrx run`` as several processes (docs/architecture.md).

The supervisor (``supervisor``) starts one journal writer (``writer``), one consumers process
(``consumers``: the rules, the MQTT publisher, the control socket) and the receiver workers
(``worker``), each through ``child``; it restarts a child that dies, serves ``/metrics`` for
all of them, and speaks ``sd_notify`` for the whole to systemd.
"""
