#!/usr/bin/env python3
"""Reads an export of /api/v1/export as a stranger's tools would.

  check_export.py csv FILE      parse with Python's csv module; print the rows as JSON
  check_export.py geojson FILE  check RFC 7946 (positions [lon, lat] in range, rings
                                closed with four or more positions, exteriors
                                counter-clockwise); print a summary as JSON

Exits non-zero, saying why, when the file does not hold.
"""
import csv
import json
import sys


def fail(why):
    print(why, file=sys.stderr)
    sys.exit(1)


def check_position(p, where):
    if not (isinstance(p, list) and len(p) in (2, 3) and all(isinstance(x, (int, float)) for x in p)):
        fail(f"{where}: not a position: {p!r}")
    lon, lat = p[0], p[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        fail(f"{where}: [lon, lat] out of range: {p!r}")


def check_ring(ring, where, exterior):
    if len(ring) < 4:
        fail(f"{where}: a ring needs four positions, has {len(ring)}")
    for p in ring:
        check_position(p, where)
    if ring[0] != ring[-1]:
        fail(f"{where}: ring not closed")
    twice_area = sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:]))
    if exterior and twice_area <= 0:
        fail(f"{where}: exterior ring is clockwise (RFC 7946 3.1.6)")
    if not exterior and twice_area >= 0:
        fail(f"{where}: hole is counter-clockwise")


def check_polygon(rings, where):
    if not rings:
        fail(f"{where}: polygon without rings")
    for i, ring in enumerate(rings):
        check_ring(ring, f"{where} ring {i}", i == 0)


def check_geometry(g, where):
    if g is None:
        return "null"
    kind = g.get("type")
    c = g.get("coordinates")
    if kind == "Point":
        check_position(c, where)
    elif kind == "Polygon":
        check_polygon(c, where)
    elif kind == "MultiPolygon":
        for i, poly in enumerate(c):
            check_polygon(poly, f"{where} part {i}")
    else:
        fail(f"{where}: unexpected geometry {kind!r}")
    return kind


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, strict=True))
        if not rows:
            fail("no header row")
        width = len(rows[0])
        for i, row in enumerate(rows):
            if len(row) != width:
                fail(f"row {i} has {len(row)} cells, the header {width}")
        print(json.dumps(rows))
    elif mode == "geojson":
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
            fail("not a FeatureCollection")
        kinds = {}
        for i, feature in enumerate(doc["features"]):
            if feature.get("type") != "Feature" or "geometry" not in feature or "properties" not in feature:
                fail(f"feature {i} is not a Feature with geometry and properties")
            g = check_geometry(feature["geometry"], f"feature {i}")
            key = f'{feature["properties"].get("kind")}:{g}'
            kinds[key] = kinds.get(key, 0) + 1
        print(json.dumps({"features": len(doc["features"]), "kinds": kinds}))
    else:
        fail(f"unknown mode {mode!r}")


main()
