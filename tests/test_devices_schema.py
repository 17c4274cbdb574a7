"""The shipped JSON Schema of devices.yaml is generated from the config models, up to date, and read by editors."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from harness.planning.config import SCHEMA_PATH, devices_schema, schema_text

REPO = Path(__file__).resolve().parents[1]


def test_shipped_schema_is_up_to_date():
    assert SCHEMA_PATH.read_text() == schema_text(), "regenerate: python -m harness.planning.config"


def test_example_devices_file_names_the_schema_and_passes_it():
    text = (REPO / "devices.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=schemas/devices.schema.json"
    jsonschema.validate(yaml.safe_load(text), json.loads(SCHEMA_PATH.read_text()))


def test_schema_catches_what_the_loader_refuses():
    schema = devices_schema()
    bad = [{"devices": [{"name": "x", "kind": "toaster"}]},
           {"devices": [{"name": "x", "kind": "local", "bench": {"threads": 0}}]},
           {"defaults": {"min_runz": 5}, "devices": [{"name": "x", "kind": "local"}]},
           {"devices": [{"name": "p", "kind": "android"}]}]  # no serial
    for doc in bad:
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
        assert errors, doc
    good = {"defaults": {"min_runs": 5}, "devices": [{"name": "p", "kind": "android", "serial": "abc"},
                                                     {"name": "pi", "kind": "raspberry_pi", "host": "pi.local",
                                                      "user": "pi"}]}
    jsonschema.validate(good, schema)
