// A small offline map on a canvas: zones, streets and heat hexagons drawn in
// an equirectangular projection fitted to a bounding box. No tiles, no
// network: an operations room may be offline.

export class CanvasMap {
  constructor(canvas, bbox) {
    this.canvas = canvas;
    this.bbox = bbox; // [minLon, minLat, maxLon, maxLat]
    this.layers = [];
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  project([lon, lat]) {
    const [x0, y0, x1, y1] = this.bbox;
    const { width, height } = this.canvas;
    const kx = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
    const scale = Math.min(width / ((x1 - x0) * kx), height / (y1 - y0));
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    return [width / 2 + (lon - cx) * kx * scale, height / 2 - (lat - cy) * scale];
  }

  /** Sets a layer: GeoJSON features, a style function (feature → {fill,
   *  stroke, width, radius}) and a z order (higher is drawn on top). */
  setLayer(name, features, style, z = 0) {
    const layer = this.layers.find((l) => l.name === name);
    if (layer) Object.assign(layer, { features, style, z });
    else this.layers.push({ name, features, style, z });
    this.layers.sort((a, b) => a.z - b.z);
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    c.width = c.clientWidth * dpr;
    c.height = c.clientHeight * dpr;
    const ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    for (const layer of this.layers) {
      for (const f of layer.features) this.drawFeature(ctx, f, layer.style(f), dpr);
    }
  }

  drawFeature(ctx, feature, style, dpr) {
    const g = feature.geometry;
    if (!g) return;
    ctx.lineWidth = (style.width || 1) * dpr;
    ctx.strokeStyle = style.stroke || "transparent";
    ctx.fillStyle = style.fill || "transparent";
    const ring = (coords) => coords.forEach((p, i) => {
      const [x, y] = this.project(p);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.beginPath();
    if (g.type === "Polygon") { g.coordinates.forEach(ring); ctx.closePath(); ctx.fill(); ctx.stroke(); }
    else if (g.type === "MultiPolygon") { g.coordinates.forEach((p) => p.forEach(ring)); ctx.fill(); ctx.stroke(); }
    else if (g.type === "LineString") { ring(g.coordinates); ctx.stroke(); }
    else if (g.type === "MultiLineString") { g.coordinates.forEach(ring); ctx.stroke(); }
    else if (g.type === "Point") {
      const [x, y] = this.project(g.coordinates);
      ctx.arc(x, y, (style.radius || 4) * dpr, 0, Math.PI * 2);
      ctx.fill(); ctx.stroke();
    }
  }
}

/** Heat colour for a density relative to the hottest cell (0..1). */
export function heatColour(t, alpha = 0.3 + 0.55 * Math.max(0, Math.min(1, t))) {
  const stops = [[255, 237, 160], [254, 178, 76], [240, 59, 32], [189, 0, 38]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const [r, g, b] = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  return `rgba(${r},${g},${b},${alpha})`;
}
