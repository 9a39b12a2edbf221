"""The examples in docs/mqtt.md are valid payloads of the shipped schemas."""

from __future__ import annotations

import json
import re

import pytest
from tests.unit.builders import SCHEMA_DIR, validator

DOC = (SCHEMA_DIR.parent / "mqtt.md").read_text()
EXAMPLES = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, re.DOTALL)]
SCHEMA_FILE = {
    "alarmrx.event.v1": "event",
    "alarmrx.state.v1": "state",
    "alarmrx.receiver-status.v1": "receiver-status",
    "alarmrx.reply.v1": "reply",
}


def test_the_contract_has_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e['schema']}-{e.get('status')}")
def test_example_validates(example: dict[str, object]) -> None:
    validator(SCHEMA_FILE[str(example["schema"])]).validate(example)


@pytest.mark.parametrize("name", sorted(SCHEMA_FILE.values()))
def test_every_schema_field_is_documented(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{name}.v1.json").read_text())
    variants = schema.get("oneOf", [schema])
    for field in {f for v in variants for f in v["properties"]}:
        assert f"`{field}`" in DOC, field
