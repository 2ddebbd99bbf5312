#!/usr/bin/env python3
"""Validate OCSF events (NDJSON on stdin) against the official OCSF JSON schema.

Each event is checked against the schema of its class (`class_uid`) with the profiles it
declares (`metadata.profiles`), in the OCSF version it declares (`metadata.version`). Schemas
come from the `ocsf-json-schema` package (compiled from the OCSF server's schema exports);
validation uses `jsonschema`. Prints one JSON summary line:
{"events": N, "invalid": N, "classes": {"6003": N, ...}, "types": {...}, "errors": [first 20]}
and exits 1 if any event is invalid.
"""
import json
import sys

import jsonschema
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

schemas = {}
classes_by_uid = {}
validators = {}


def validator(version, class_uid, profiles):
    if version not in schemas:
        raw = get_ocsf_schema(version=version)
        schemas[version] = OcsfJsonSchemaEmbedded(raw)
        classes_by_uid[version] = {c["uid"]: name for name, c in raw["classes"].items()}
    key = (version, class_uid, tuple(sorted(profiles)))
    if key not in validators:
        name = classes_by_uid[version][class_uid]
        schema = schemas[version].get_class_schema(name, profiles=list(profiles))
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validators[key] = cls(schema)
    return validators[key]


def main():
    summary = {"events": 0, "invalid": 0, "classes": {}, "types": {}, "errors": []}
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        summary["events"] += 1
        event = json.loads(line)
        meta = event.get("metadata", {})
        uid = event.get("class_uid")
        summary["classes"][str(uid)] = summary["classes"].get(str(uid), 0) + 1
        t = str(event.get("type_uid"))
        summary["types"][t] = summary["types"].get(t, 0) + 1
        problems = []
        if event.get("type_uid") != uid * 100 + event.get("activity_id", -1):
            problems.append("type_uid is not class_uid*100+activity_id")
        try:
            v = validator(meta.get("version"), uid, meta.get("profiles", []))
            problems += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(event)]
        except Exception as e:  # unknown version or class
            problems.append(f"no schema: {e!r}")
        if problems:
            summary["invalid"] += 1
            if len(summary["errors"]) < 20:
                summary["errors"].append({"line": n, "event_code": meta.get("event_code"), "problems": problems[:5]})
    print(json.dumps(summary, sort_keys=True))
    return 1 if summary["invalid"] else 0


if __name__ == "__main__":
    sys.exit(main())
