#!/usr/bin/env python3
"""Writes a small PMTiles v3 base map of vector tiles (MVT) for the tests.

The tests need a real archive, written by a PMTiles implementation other than
the one the pages read it with, so that the server's range answers and the
pages' reader are checked against the format and not against each other.
The tiles follow the schema of geodata/README.md ("PMTiles base maps"):
`streets` (lines: name, kind), `squares` (areas: name, kind) and `labels`
(points: name, kind), cut from a base-map GeoJSON such as the demo's.

    python3 tests/tools/make_pmtiles.py IN.geojson OUT.pmtiles [--minzoom 12] [--maxzoom 16]
"""

import argparse
import gzip
import json
import math
import sys

import mapbox_vector_tile
import shapely
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from shapely.geometry import box, mapping, shape

EXTENT = 4096
# Features are kept a little beyond their tile so that lines and labels
# crossing a tile edge join up without seams.
BUFFER = 64 / EXTENT


def lonlat_to_tile(lon, lat, z):
    n = 2**z
    x = (lon + 180.0) / 360.0 * n
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return x, y


def tile_bounds(z, x, y):
    """The tile's bounds as (west, south, east, north) in degrees."""
    n = 2**z

    def lat(row):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def to_tile_coords(geom, z, x, y):
    """Projects a shapely geometry into the tile's 0..EXTENT pixel grid (y down)."""

    def project(coords):
        return [[(px - x) * EXTENT, (py - y) * EXTENT] for px, py in (lonlat_to_tile(lo, la, z) for lo, la in coords)]

    return shapely.transform(geom, project)


def layers_of(features):
    """Sorts the base map's features into the schema's three layers."""
    streets, squares, labels = [], [], []
    for f in features:
        props = f.get("properties") or {}
        name, kind = props.get("name"), props.get("kind")
        if not isinstance(name, str) or not name:
            continue
        geom = shape(f["geometry"])
        keep = {"name": name, "kind": kind or ""}
        if geom.geom_type in ("LineString", "MultiLineString"):
            streets.append((geom, keep))
        elif geom.geom_type in ("Polygon", "MultiPolygon"):
            squares.append((geom, keep))
            # The name of an area sits inside it, where a reader looks for it.
            labels.append((geom.representative_point(), keep))
        elif geom.geom_type == "Point":
            labels.append((geom, keep))
    return {"streets": streets, "squares": squares, "labels": labels}


def encode_tile(layers, z, x, y):
    west, south, east, north = tile_bounds(z, x, y)
    dx, dy = (east - west) * BUFFER, (north - south) * BUFFER
    clip = box(west - dx, south - dy, east + dx, north + dy)
    out = []
    for name, items in layers.items():
        feats = []
        for geom, props in items:
            if not geom.intersects(clip):
                continue
            part = geom.intersection(clip) if name != "labels" else geom
            if part.is_empty:
                continue
            feats.append({"geometry": to_tile_coords(part, z, x, y).wkt, "properties": props})
        if feats:
            out.append({"name": name, "features": feats})
    if not out:
        return None
    # Pixel coordinates are given already, y down as MVT wants them.
    return mapbox_vector_tile.encode(out, default_options={"extents": EXTENT, "y_coord_down": True})


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="base-map GeoJSON (FeatureCollection)")
    parser.add_argument("target", help="PMTiles file to write")
    parser.add_argument("--minzoom", type=int, default=12)
    parser.add_argument("--maxzoom", type=int, default=16)
    args = parser.parse_args(argv)

    with open(args.source, encoding="utf-8") as f:
        collection = json.load(f)
    layers = layers_of(collection["features"])
    everything = [g for items in layers.values() for g, _ in items]
    if not everything:
        parser.error(f"{args.source}: no named line, area or point to put in tiles")
    west = min(g.bounds[0] for g in everything)
    south = min(g.bounds[1] for g in everything)
    east = max(g.bounds[2] for g in everything)
    north = max(g.bounds[3] for g in everything)

    tiles = []
    for z in range(args.minzoom, args.maxzoom + 1):
        x0, y0 = lonlat_to_tile(west, north, z)
        x1, y1 = lonlat_to_tile(east, south, z)
        for x in range(int(x0), int(x1) + 1):
            for y in range(int(y0), int(y1) + 1):
                data = encode_tile(layers, z, x, y)
                if data:
                    tiles.append((zxy_to_tileid(z, x, y), gzip.compress(data, mtime=0)))
    tiles.sort()

    fields = {"name": "string", "kind": "string"}
    metadata = {
        "name": "campanile test base map",
        "description": "Made by tests/tools/make_pmtiles.py from " + collection.get("name", "a base-map GeoJSON"),
        "vector_layers": [
            {"id": layer, "fields": fields, "minzoom": args.minzoom, "maxzoom": args.maxzoom}
            for layer in layers
        ],
    }
    header = {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_lon_e7": int(west * 1e7),
        "min_lat_e7": int(south * 1e7),
        "max_lon_e7": int(east * 1e7),
        "max_lat_e7": int(north * 1e7),
        "center_zoom": (args.minzoom + args.maxzoom) // 2,
        "center_lon_e7": int((west + east) / 2 * 1e7),
        "center_lat_e7": int((south + north) / 2 * 1e7),
    }
    with open(args.target, "wb") as f:
        writer = Writer(f)
        for tile_id, data in tiles:
            writer.write_tile(tile_id, data)
        writer.finalize(header, metadata)
    print(f"{len(tiles)} tiles, zoom {args.minzoom}-{args.maxzoom}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
