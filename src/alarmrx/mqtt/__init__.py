"""The MQTT publisher (docs/mqtt.md): it publishes what the journal holds, in priority order,
advancing its cursor only after the broker acknowledged; it computes nothing the rules decide."""
