// The ingest rate over the last hour, per time bucket, read from the server
// every ten seconds and drawn on a canvas in the operators' side bar.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";

const EVERY_MS = 10000;

export function timelinePanel(page) {
  const canvas = el("canvas", { id: "timeline", width: 600, height: 90 });

  async function sample() {
    const token = page.token();
    if (!token) return; // not signed in yet
    try {
      const stats = await getJson("/api/v1/stats/ingest", token);
      draw(stats.buckets.map((b) => b.per_s));
    } catch { /* the connection state says why */ }
  }

  function draw(rates) {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = canvas.clientWidth * dpr;
    canvas.height = canvas.clientHeight * dpr;
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    const [width, height] = [canvas.clientWidth, canvas.clientHeight];
    const max = Math.max(1, ...rates);
    ctx.strokeStyle = "#f0883e";
    ctx.lineWidth = 2;
    ctx.beginPath();
    rates.forEach((r, i) => {
      const x = (i / Math.max(1, rates.length - 1)) * width, y = height - 4 - (r / max) * (height - 24);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = "#e6edf3";
    ctx.font = "14px system-ui";
    const now = rates.length ? rates[rates.length - 1] : 0;
    ctx.fillText(`${now.toFixed(1)} posts/s now, peak ${max.toFixed(1)} in the last hour`, 4, 14);
    canvas.dataset.buckets = String(rates.length);
  }

  sample();
  setInterval(sample, EVERY_MS);
  return { elements: [section("Ingest rate, last hour", "timeline-panel", canvas)] };
}
