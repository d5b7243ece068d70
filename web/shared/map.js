// The map of every page: MapLibre GL (from npm, served under /vendor/) with
// the deployment's base map (shared/basemap.js), the event's zones and their
// names, and the live H3 heat drawn from cell ids with h3-js.

import * as maplibregl from "/vendor/maplibre-gl/maplibre-gl.mjs";
import { cellToBoundary, cellToLatLng } from "/vendor/h3-js/h3-js.es.js";
import { baseLayers, basemapOf, fontFaces, startingStyle } from "/shared/basemap.js";
import { words } from "/shared/i18n.js";

// MapLibre's own words (its controls' titles, the map's name for screen readers), in the page's language.
const t = words({
  en: { "Map.Title": "Map", "NavigationControl.ZoomIn": "Zoom in", "NavigationControl.ZoomOut": "Zoom out",
    "NavigationControl.ResetBearing": "Reset bearing to north", "Popup.Close": "Close popup",
    "ScrollZoomBlocker.CtrlMessage": "Use ctrl + scroll to zoom the map", "TouchPanBlocker.Message": "Use two fingers to move the map" },
  it: { "Map.Title": "Mappa", "NavigationControl.ZoomIn": "Ingrandisci", "NavigationControl.ZoomOut": "Riduci",
    "NavigationControl.ResetBearing": "Orienta a nord", "Popup.Close": "Chiudi",
    "ScrollZoomBlocker.CtrlMessage": "Usa ctrl + rotellina per ingrandire la mappa", "TouchPanBlocker.Message": "Usa due dita per spostare la mappa" },
});
const MAP_WORDS = ["Map.Title", "NavigationControl.ZoomIn", "NavigationControl.ZoomOut", "NavigationControl.ResetBearing", "Popup.Close",
  "ScrollZoomBlocker.CtrlMessage", "TouchPanBlocker.Message"];

/** A cell's centre as [lon, lat]. */
export function cellCentre(cell) {
  const [lat, lng] = cellToLatLng(cell);
  return [lng, lat];
}

/** Whether [lon, lat] lies inside a GeoJSON Polygon or MultiPolygon (even-odd rule). */
export function contains(geometry, [x, y]) {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polygons.some((rings) => rings.reduce((inside, ring) => {
    let crossing = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) crossing = !crossing;
    }
    return inside !== crossing;
  }, false));
}

const ZONE_COLOURS = ["match", ["get", "kind"],
  "perimeter", "#58a6ff", "sector", "#388bfd", "exit", "#3fb950", "first_aid", "#ff7b72", "assembly_point", "#d2a8ff", "#8b949e"];

/**
 * The heat's colours from the quietest cell (t = 0) to the densest (t = 1),
 * and how opaque each is over the dark base map. Inferno's stops (Smith and
 * van der Walt, matplotlib): CIE L* rises steadily from dark violet to pale
 * yellow, so the densest cells are the lightest and stand out most on the
 * dark map, and the order holds in greys and under protanopia, deuteranopia
 * and tritanopia alike (tests/legibility.test.mjs checks it). The legend's
 * bar (live-map.css, --heat-ramp) shows the same stops.
 */
export const HEAT_RAMP = ["#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4"];
export const HEAT_OPACITY = [0.6, 0.9];

/**
 * The zones' points as symbols, so that a kind is told by its shape and not
 * its colour alone: an exit a green square with an arrow (the colours of ISO
 * 7010's exit signs), first aid a white disc with a red cross, an assembly
 * point a lilac diamond with a dot, any other point a grey disc.
 */
export const POINT_ICONS = { exit: "zone-exit", first_aid: "zone-first-aid", assembly_point: "zone-assembly-point", other: "zone-point" };

/** Device pixels of an icon's side; drawn at pixel ratio 2, so half that in CSS pixels. */
const ICON_PX = 48;

function drawPointIcon(kind) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = ICON_PX;
  const g = canvas.getContext("2d");
  const c = ICON_PX / 2;
  g.lineJoin = "round";
  g.lineWidth = 3;
  g.strokeStyle = "#0b0f14";
  const shape = (points) => {
    g.beginPath();
    points.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
    g.closePath();
  };
  if (kind === "exit") {
    shape([[3, 3], [45, 3], [45, 45], [3, 45]]);
    g.fillStyle = "#238636";
    g.fill();
    g.stroke();
    shape([[10, 20], [24, 20], [24, 11], [39, 24], [24, 37], [24, 28], [10, 28]]);
    g.fillStyle = "#ffffff";
    g.fill();
  } else if (kind === "first_aid") {
    g.beginPath();
    g.arc(c, c, 21, 0, 2 * Math.PI);
    g.fillStyle = "#ffffff";
    g.fill();
    g.stroke();
    g.fillStyle = "#cf222e";
    g.fillRect(19, 9, 10, 30);
    g.fillRect(9, 19, 30, 10);
  } else if (kind === "assembly_point") {
    shape([[c, 1], [47, c], [c, 47], [1, c]]);
    g.fillStyle = "#d2a8ff";
    g.fill();
    g.stroke();
    g.beginPath();
    g.arc(c, c, 6, 0, 2 * Math.PI);
    g.fillStyle = "#0b0f14";
    g.fill();
  } else {
    g.beginPath();
    g.arc(c, c, 14, 0, 2 * Math.PI);
    g.fillStyle = "#8b949e";
    g.fill();
    g.stroke();
  }
  return g.getImageData(0, 0, ICON_PX, ICON_PX);
}

/** How much larger than at 16 px the page's type is set (the wall scales it with its size): the map's symbols follow. */
const uiScale = () => Math.max(1, parseFloat(getComputedStyle(document.documentElement).fontSize) / 16 || 1);

/** The H3 resolution that suits a zoom level, capped at `maxRes`. */
export function resolutionForZoom(zoom, minRes = 7, maxRes = 11) {
  return Math.max(minRes, Math.min(maxRes, Math.round(zoom) - 5));
}

const empty = () => ({ type: "FeatureCollection", features: [] });

/** The layers that carry names, for the pages' tests and for whoever checks that a map reads. */
export const NAME_LAYERS = ["street-names", "place-names", "zone-names"];

export class LiveMap {
  /** `basemap` is the event's ({kind, url}); none draws the built-in streets. */
  constructor(container, { bbox, basemap }) {
    this.basemap = basemapOf({ basemap });
    this.map = new maplibregl.Map({
      container,
      style: startingStyle(this.basemap),
      bounds: [[bbox[0], bbox[1]], [bbox[2], bbox[3]]],
      attributionControl: false,
      maxPitch: 0,
      locale: Object.fromEntries(MAP_WORDS.map((key) => [key, t(key)])),
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
    this.ready = new Promise((resolve) => this.map.on("load", resolve)).then(() => this.addLayers());
    // A turned tablet or a resized window may show or hide the labels' names.
    this.map.on("resize", () => {
      if (this.map.getLayer("zone-names")) this.map.setFilter("zone-names", this.zoneNamesFilter());
      this.clearPoints();
    });
    // A level's label keeps clear of the exits', first aid's and assembly points' symbols at every zoom.
    this.map.on("zoomend", () => this.clearPoints());
  }

  async addLayers() {
    const m = this.map;
    const base = await baseLayers(this.basemap, maplibregl);
    const ui = uiScale();
    // An operator's style declares its own fonts, if any: ours are added for our labels.
    if (this.basemap.kind === "style") m.setFontFaces({ ...(m.getFontFaces() ?? {}), ...fontFaces() });
    for (const [id, source] of Object.entries(base.sources)) m.addSource(id, source);
    for (const layer of base.layers) m.addLayer(layer);
    for (const id of ["heat", "draft", "highlight", "official"]) m.addSource(id, { type: "geojson", data: empty() });
    // Zones keep their own ids so that their levels can colour them without sending the shapes again.
    m.addSource("zones", { type: "geojson", data: empty(), promoteId: "id" });
    // Beneath the heat, faint, so that a zone's level shows where the heat is thin;
    // the perimeter is left out, as its fill would cover every other zone.
    m.addLayer({ id: "zone-fill", type: "fill", source: "zones",
      filter: ["all", ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]], ["!=", ["get", "kind"], "perimeter"]],
      paint: { "fill-color": ["to-color", ["coalesce", ["feature-state", "colour"], "rgba(0,0,0,0)"]], "fill-opacity": 0.35 } });
    m.addLayer({ id: "heat", type: "fill", source: "heat",
      paint: {
        "fill-color": ["interpolate", ["linear"], ["get", "t"], ...HEAT_RAMP.flatMap((colour, i) => [i / (HEAT_RAMP.length - 1), colour])],
        "fill-opacity": ["interpolate", ["linear"], ["get", "t"], 0, HEAT_OPACITY[0], 1, HEAT_OPACITY[1]],
        "fill-outline-color": "rgba(0,0,0,0.3)",
      } });
    m.addLayer({ id: "zone-areas", type: "line", source: "zones", filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "line-color": ZONE_COLOURS, "line-width": ["match", ["get", "kind"], "perimeter", 3, 1.5] } });
    for (const [kind, id] of Object.entries(POINT_ICONS)) if (!m.hasImage(id)) m.addImage(id, drawPointIcon(kind), { pixelRatio: 2 });
    // Cells picked out by a panel (a coordinated cluster's), drawn over the heat in a colour neither the heat nor a zone takes.
    m.addLayer({ id: "highlight", type: "line", source: "highlight", paint: { "line-color": "#f778ba", "line-width": 4 } });
    // An official alert's area, asked for from its card: dashed purple, apart from zones, heat, highlight and draft.
    m.addLayer({ id: "official", type: "line", source: "official", paint: { "line-color": "#a371f7", "line-width": 3, "line-dasharray": [3, 2] } });
    m.addLayer({ id: "draft", type: "line", source: "draft", paint: { "line-color": "#f0883e", "line-width": 3, "line-dasharray": [2, 1] } });
    // Names go over the heat, haloed, so that a street under a surge still reads.
    for (const layer of base.labels) m.addLayer(layer);
    // A zone's name beside its centre, where its level's label (a marker) would not cover it;
    // the perimeter's is left out, as it would sit on a sector's, and so is every zone whose
    // level's label already names it (setZoneLabels).
    m.addLayer({ id: "zone-names", type: "symbol", source: "zones", filter: this.zoneNamesFilter(),
      layout: { "text-field": ["get", "name"], "text-font": ["Noto Sans Bold"], "text-size": 12 * ui, "text-max-width": 9,
        "text-variable-anchor": ["top", "bottom", "left", "right"], "text-radial-offset": 1.6, "text-padding": 2 },
      paint: { "text-color": "#f0f6fc", "text-halo-color": "#0b0f14", "text-halo-width": 1.8 } });
    // The exits', first aid's and assembly points' symbols, last: drawn over every name and placed
    // first, so that a name that would cover one moves to another side of its place or gives way.
    // Exits and first aid before assembly points, should two ever meet.
    m.addLayer({ id: "zone-points", type: "symbol", source: "zones", filter: ["==", ["geometry-type"], "Point"],
      layout: { "icon-image": ["match", ["get", "kind"], "exit", POINT_ICONS.exit, "first_aid", POINT_ICONS.first_aid,
        "assembly_point", POINT_ICONS.assembly_point, POINT_ICONS.other],
      "symbol-sort-key": ["match", ["get", "kind"], "first_aid", 0, "exit", 1, "assembly_point", 2, 3],
      "icon-size": ui, "icon-allow-overlap": true, "icon-ignore-placement": false, "icon-padding": 4 } });
  }

  /** The names drawn now in the view, by layer: what a reader of the map can read. */
  namesShown() {
    const layers = NAME_LAYERS.filter((id) => this.map.getLayer(id));
    const names = {};
    for (const f of this.map.queryRenderedFeatures({ layers })) (names[f.layer.id] ??= new Set()).add(f.properties.name);
    return Object.fromEntries(Object.entries(names).map(([k, v]) => [k, [...v].sort()]));
  }

  async setGeoJson(source, data) {
    await this.ready;
    this.map.getSource(source).setData(data);
    if (source === "zones") {
      this.zonesDrawn = true;
      this.points = data.features.filter((f) => f.geometry?.type === "Point").map((f) => f.geometry.coordinates);
      this.paintZones();
      this.clearPoints();
    }
  }

  /** Fills each zone of `colours` ({zone id: CSS colour}); zones left out lose their fill. */
  async setZoneColours(colours) {
    this.zoneColours = colours;
    await this.ready;
    this.paintZones();
  }

  /**
   * Puts `labels` ([{id, feature, node}]) on the map at each zone's centre, so
   * that its level reads in words and icon on the map too, not in the fill's
   * colour alone; zones left out lose their label.
   */
  async setZoneLabels(labels) {
    await this.ready;
    this.zoneLabels ??= new Map();
    const wanted = new Set(labels.map((l) => l.id));
    for (const [id, marker] of this.zoneLabels) if (!wanted.has(id)) { marker.remove(); this.zoneLabels.delete(id); }
    for (const { id, feature, node } of labels) {
      const held = this.zoneLabels.get(id);
      if (held) held.getElement().replaceChildren(...node.childNodes);
      else this.zoneLabels.set(id, new maplibregl.Marker({ element: node }).setLngLat(centreOf(feature.geometry)).addTo(this.map));
    }
    if (this.map.getLayer("zone-names")) this.map.setFilter("zone-names", this.zoneNamesFilter());
    this.clearPoints();
  }

  /**
   * Moves each level's label (a marker, drawn over the map's canvas) off the
   * exits', first aid's and assembly points' symbols it would cover: above,
   * below, then beside its zone's centre, the nearest place that covers none.
   */
  clearPoints() {
    if (!this.zoneLabels?.size || !this.points?.length) return;
    const half = (ICON_PX / 4) * uiScale() + 4; // half an icon's side in CSS pixels, and a margin
    const icons = this.points.map((p) => this.map.project(p));
    for (const marker of this.zoneLabels.values()) {
      const node = marker.getElement();
      const [w, h] = [node.offsetWidth, node.offsetHeight];
      if (!w || !h) continue;
      const at = this.map.project(marker.getLngLat());
      const covers = ([dx, dy]) => icons.some((i) => Math.abs(at.x + dx - i.x) < w / 2 + half && Math.abs(at.y + dy - i.y) < h / 2 + half);
      const candidates = [[0, 0]];
      for (let step = 1; step <= 3; step++) {
        const [dy, dx] = [step * (h / 2 + half), step * (w / 2 + half)];
        candidates.push([0, -dy], [0, dy], [-dx, 0], [dx, 0]);
      }
      marker.setOffset(candidates.find((c) => !covers(c)) ?? [0, 0]);
    }
  }

  /**
   * Names every zone but the perimeter and those whose level's label shows
   * its name (a narrow screen hides the labels' names: the map names them).
   */
  zoneNamesFilter() {
    const named = (marker) => marker.getElement().querySelector(".zone-label-name")?.checkVisibility() ?? false;
    const labelled = [...(this.zoneLabels ?? [])].filter(([, marker]) => named(marker)).map(([id]) => id);
    return ["all", ["!=", ["get", "kind"], "perimeter"], ["!", ["in", ["get", "id"], ["literal", labelled]]]];
  }

  paintZones() {
    if (!this.zonesDrawn || !this.zoneColours) return;
    this.map.removeFeatureState({ source: "zones" });
    for (const [id, colour] of Object.entries(this.zoneColours)) this.map.setFeatureState({ source: "zones", id }, { colour });
    this.zonesPainted = Object.keys(this.zoneColours).length;
  }

  /**
   * Draws cells coloured by density: operators' cells ({cell, count,
   * contributors, density_km2}) against the densest one, public cells
   * ({cell, level}) by their level 1–5. Returns the densest value.
   */
  async setHeat(cells) {
    const max = Math.max(1, ...cells.map((c) => c.density_km2 ?? 0));
    const shade = (c) => (c.level ? (c.level - 1) / 4 : c.density_km2 / max);
    const features = cells.map((c) => ({
      type: "Feature",
      properties: { cell: c.cell, t: shade(c) },
      geometry: { type: "Polygon", coordinates: [cellToBoundary(c.cell, true)] },
    }));
    this.heatFeatures = features.length;
    await this.setGeoJson("heat", { type: "FeatureCollection", features });
    return max;
  }

  /** Outlines `cells` (H3 ids) over the heat; none clears the outline. */
  async setHighlight(cells) {
    const features = cells.map((cell) => ({ type: "Feature", properties: { cell }, geometry: { type: "Polygon", coordinates: [cellToBoundary(cell, true)] } }));
    this.highlighted = features.length;
    await this.setGeoJson("highlight", { type: "FeatureCollection", features });
  }

  /** Frames `cells` (H3 ids). */
  fitCells(cells) {
    const points = cells.flatMap((cell) => cellToBoundary(cell, true));
    if (!points.length) return;
    const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
    this.map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 60, maxZoom: 17 });
  }

  flyToCell(cell) {
    const [lat, lng] = cellToLatLng(cell);
    this.map.flyTo({ center: [lng, lat], zoom: Math.max(this.map.getZoom(), 16) });
  }

  /** Frames a zone's polygon. */
  fitZone(feature) {
    const rings = feature.geometry.type === "Polygon" ? [feature.geometry.coordinates] : feature.geometry.coordinates;
    const points = rings.flat(2);
    const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
    this.map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 40, maxZoom: 18 });
  }

  /** Outlines an official alert's area (a GeoJSON geometry) and frames it; null clears it. */
  async showOfficialArea(geometry) {
    const features = geometry ? [{ type: "Feature", properties: {}, geometry }] : [];
    this.officialShown = features.length;
    await this.setGeoJson("official", { type: "FeatureCollection", features });
    if (geometry) this.fitZone({ geometry });
  }

  zoom() {
    return this.map.getZoom();
  }

  on(event, handler) {
    this.map.on(event, handler);
  }
}

/**
 * Where a zone's name goes, as [lon, lat]: the area-weighted centre of a
 * polygon's outer ring (of the largest polygon's, for a MultiPolygon), so
 * that the label sits on the zone's main part.
 */
export function centreOf(geometry) {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  let best = null;
  for (const [ring] of polygons) {
    const m = ringMoments(ring, ring[0]);
    if (m.area !== 0 && (!best || Math.abs(m.area) > Math.abs(best.area))) best = { area: m.area, centre: momentsCentre(m, ring[0]) };
  }
  return best ? best.centre : polygons[0][0][0];
}

/** The centre the summed moments of rings taken about `origin` give, as [lon, lat]. */
const momentsCentre = ({ area, x, y, k }, origin) => [origin[0] + x / (6 * area) / k, origin[1] + y / (6 * area)];

/**
 * A ring's signed area and centroid in a plane around `origin` (lon scaled by
 * the cosine of its latitude, so that a degree east and north weigh alike at
 * the event's scale): the shoelace sums.
 */
function ringMoments(ring, origin) {
  const k = Math.cos((origin[1] * Math.PI) / 180);
  const xy = ring.map(([lon, lat]) => [(lon - origin[0]) * k, lat - origin[1]]);
  let a = 0, cx = 0, cy = 0;
  for (let i = 0; i < xy.length; i++) {
    const [x0, y0] = xy[i];
    const [x1, y1] = xy[(i + 1) % xy.length];
    const cross = x0 * y1 - x1 * y0;
    a += cross;
    cx += (x0 + x1) * cross;
    cy += (y0 + y1) * cross;
  }
  return { area: a / 2, x: cx, y: cy, k };
}

/**
 * The centre of a zone's geometry as [lon, lat]: a point's own position, a
 * polygon's area-weighted centroid (its holes taken out), a multipolygon's
 * parts weighted by their areas. A vertex average would pull the centre of
 * a concave or unevenly drawn shape towards its densest corners.
 */
export function centroid(geometry) {
  if (!geometry) return null;
  if (geometry.type === "Point") return geometry.coordinates.slice(0, 2);
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : null;
  if (!polygons?.length) return null;
  const origin = polygons[0][0][0];
  let area = 0, x = 0, y = 0, k = 1;
  for (const rings of polygons) {
    rings.forEach((ring, i) => {
      const m = ringMoments(ring, origin);
      k = m.k;
      // The outer ring adds, a hole takes away, whichever way each was drawn.
      const sign = (i === 0 ? 1 : -1) * Math.sign(m.area || 1);
      area += sign * m.area;
      x += sign * m.x;
      y += sign * m.y;
    });
  }
  if (!area) {
    const all = polygons.flat(1).flat(1);
    return [all.reduce((s, p) => s + p[0], 0) / all.length, all.reduce((s, p) => s + p[1], 0) / all.length];
  }
  // Σ(x0+x1)·cross over 6A gives the centroid; the signs of A and the sums cancel.
  return momentsCentre({ area, x, y, k }, origin);
}

/** A circle of `radiusM` metres around [lon, lat] as a closed ring, for drafts. */
export function circleRing([lon, lat], radiusM, steps = 48) {
  const ring = [];
  for (let i = 0; i <= steps; i++) {
    const a = (i / steps) * 2 * Math.PI;
    ring.push([lon + (radiusM * Math.cos(a)) / (111320 * Math.cos((lat * Math.PI) / 180)), lat + (radiusM * Math.sin(a)) / 111320]);
  }
  return ring;
}
