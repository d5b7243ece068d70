// The base map under the heat (DESIGN §11), whichever the deployment chose
// (GET /api/v1/event → basemap): the built-in streets of geodata/basemap/,
// an operator's PMTiles archive read in pieces with range requests by the
// `pmtiles` library, or an operator's MapLibre style. Names of streets,
// squares and zones are drawn by MapLibre from Noto Sans (npm
// @fontsource/noto-sans, served under /vendor/fonts/): no request leaves the
// server for glyphs.

/** The font every label of ours is set in; its files are declared in the style. */
export const LABEL_FONT = ["Noto Sans Regular"];

const font = (file) => `${location.origin}/vendor/fonts/${file}`;
// Latin covers Italian and most of Western Europe; Latin Extended the rest of
// Europe's Latin scripts. Anything else is drawn from the browser's own fonts.
const LATIN = ["U+0000-00FF", "U+0131", "U+0152-0153", "U+02BB-02BC", "U+02C6", "U+02DA", "U+02DC", "U+2000-206F", "U+20AC", "U+2122", "U+2212"];
const LATIN_EXT = ["U+0100-02BA", "U+02BD-02C5", "U+02C7-02CC", "U+02CE-02D7", "U+02DD-02FF", "U+1E00-1E9F", "U+20A0-20AB", "U+20AD-20C0", "U+2C60-2C7F", "U+A720-A7FF"];

/** MapLibre `font-faces`: our label font from files this server serves. */
export function fontFaces() {
  return {
    "Noto Sans Regular": [
      { url: font("noto-sans-latin-400-normal.woff2"), "unicode-range": LATIN },
      { url: font("noto-sans-latin-ext-400-normal.woff2"), "unicode-range": LATIN_EXT },
    ],
    "Noto Sans Bold": [
      { url: font("noto-sans-latin-700-normal.woff2"), "unicode-range": LATIN },
      { url: font("noto-sans-latin-ext-700-normal.woff2"), "unicode-range": LATIN_EXT },
    ],
  };
}

/** The base map the event names, or the built-in one when it names none or garbles it. */
export function basemapOf(event) {
  const b = event?.basemap;
  const ok = b && typeof b.url === "string" && b.url !== "" && ["builtin", "pmtiles", "style"].includes(b.kind);
  return ok ? { kind: b.kind, url: b.url } : { kind: "builtin", url: "/basemap/bologna-streets.geojson" };
}

let protocol = null;

/**
 * Loads the `pmtiles` library (its browser bundle, a classic script: its ES
 * module imports a bare package name a browser cannot resolve) and registers
 * `pmtiles://` with MapLibre, once per page.
 */
async function pmtilesProtocol(maplibregl) {
  protocol ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/vendor/pmtiles/pmtiles.js";
    script.onload = () => {
      const p = new window.pmtiles.Protocol();
      maplibregl.addProtocol("pmtiles", p.tilev4);
      resolve(p);
    };
    script.onerror = () => reject(new Error("the pmtiles library is not served"));
    document.head.append(script);
  });
  return protocol;
}

const STREET_WIDTH = ["match", ["get", "kind"], "primary", 4, 2];
const TEXT = { "text-color": "#e6edf3", "text-halo-color": "#0b0f14", "text-halo-width": 1.6 };

/** The layers of our schema (geodata/README.md), on `source` and, for vector tiles, its source layers. */
function schemaLayers(source, vector) {
  const from = (layer) => (vector ? { source, "source-layer": layer } : { source });
  const areas = vector ? [] : [["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]]];
  const lines = vector ? [] : [["in", ["geometry-type"], ["literal", ["LineString", "MultiLineString"]]]];
  return [
    { id: "squares", type: "fill", ...from("squares"), filter: ["all", ...areas, ["in", ["get", "kind"], ["literal", ["square", "park"]]]],
      paint: { "fill-color": ["match", ["get", "kind"], "park", "#1f3b2a", "#252c35"] } },
    { id: "streets", type: "line", ...from("streets"), filter: ["all", ...lines],
      paint: { "line-color": "#3b4450", "line-width": STREET_WIDTH } },
  ];
}

/** The names of our schema: along streets, and at the squares' and landmarks' points. */
function schemaLabels(source, vector) {
  const from = (layer) => (vector ? { source, "source-layer": layer } : { source });
  const lines = vector ? [] : [["in", ["geometry-type"], ["literal", ["LineString", "MultiLineString"]]]];
  // The built-in GeoJSON names its areas on the areas; an archive has a point for each in `labels`.
  const places = vector ? [] : [["in", ["geometry-type"], ["literal", ["Point", "Polygon", "MultiPolygon"]]]];
  return [
    { id: "street-names", type: "symbol", ...from("streets"), filter: ["all", ...lines, ["has", "name"]],
      layout: { "symbol-placement": "line", "text-field": ["get", "name"], "text-font": LABEL_FONT,
        "text-size": ["interpolate", ["linear"], ["zoom"], 13, 10, 17, 14], "text-max-angle": 40, "symbol-spacing": 280 },
      paint: TEXT },
    { id: "place-names", type: "symbol", ...from("labels"), filter: ["all", ...places, ["has", "name"]],
      layout: { "text-field": ["get", "name"], "text-font": LABEL_FONT, "text-size": ["interpolate", ["linear"], ["zoom"], 13, 11, 17, 15],
        "text-max-width": 8, "text-padding": 4 },
      paint: { ...TEXT, "text-color": "#c9d1d9" } },
  ];
}

/** Faint lines, areas and names for source layers outside our schema, so that another archive still shows. */
function otherLayers(source, ids) {
  return ids.flatMap((layer) => [
    { id: `other-${layer}-area`, type: "fill", source, "source-layer": layer, filter: ["==", ["geometry-type"], "Polygon"],
      paint: { "fill-color": "#1a2029", "fill-outline-color": "#2d333b" } },
    { id: `other-${layer}-line`, type: "line", source, "source-layer": layer, filter: ["==", ["geometry-type"], "LineString"],
      paint: { "line-color": "#30363d", "line-width": 1 } },
    { id: `other-${layer}-name`, type: "symbol", source, "source-layer": layer, filter: ["has", "name"],
      layout: { "text-field": ["get", "name"], "text-font": LABEL_FONT, "text-size": 11,
        "symbol-placement": ["case", ["==", ["geometry-type"], "LineString"], "line", "point"] },
      paint: { ...TEXT, "text-color": "#8b949e" } },
  ]);
}

/**
 * The style the map is made with: an operator's style by its URL, or ours
 * with the background and the label font; the base map's own layers are
 * added by `baseLayers` once it has loaded.
 */
export function startingStyle(basemap) {
  if (basemap.kind === "style") return basemap.url;
  return { version: 8, "font-faces": fontFaces(), sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#0b0f14" } }] };
}

/**
 * The base map's sources and layers for our style ({sources, layers, labels}:
 * layers go under everything of ours, labels over it); none for an
 * operator's style, which drew its own.
 */
export async function baseLayers(basemap, maplibregl) {
  if (basemap.kind === "pmtiles") {
    const url = new URL(basemap.url, location.origin).href;
    try {
      const p = await pmtilesProtocol(maplibregl);
      const archive = new window.pmtiles.PMTiles(url);
      p.add(archive);
      // Layers beyond our schema get a plain drawing.
      const metadata = await archive.getMetadata().catch(() => ({}));
      const known = new Set(["streets", "squares", "labels"]);
      const extra = (metadata?.vector_layers ?? []).map((l) => l?.id).filter((id) => typeof id === "string" && !known.has(id));
      return {
        sources: { basemap: { type: "vector", url: `pmtiles://${url}` } },
        layers: [...otherLayers("basemap", extra), ...schemaLayers("basemap", true)],
        labels: schemaLabels("basemap", true),
      };
    } catch (e) {
      console.warn(`base map archive not drawn: ${e.message}`);
      return { sources: {}, layers: [], labels: [] };
    }
  }
  if (basemap.kind === "builtin") {
    return {
      sources: { basemap: { type: "geojson", data: new URL(basemap.url, location.origin).href } },
      layers: schemaLayers("basemap", false),
      labels: schemaLabels("basemap", false),
    };
  }
  return { sources: {}, layers: [], labels: [] };
}
