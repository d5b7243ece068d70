// The ingest rate over the last hour, per time bucket, read from the server
// every ten seconds and drawn on a canvas in the operators' side bar.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { number, words } from "/shared/i18n.js";

const EVERY_MS = 10000;

const t = words({
  en: {
    heading: "Ingest rate, last hour",
    caption: (now, peak) => `${now} posts/s now, peak ${peak} in the last hour`,
  },
  it: {
    heading: "Post ricevuti, ultima ora",
    caption: (now, peak) => `${now} post/s ora, picco di ${peak} nell'ultima ora`,
  },
});

// The caption's size against the side bar's text (14 px beside 16 px), and
// the canvas's height in the same unit (90 px at 16 px), so that both grow
// with the page's type scale: on the 4K wall as the rest of the side bar.
const CAPTION_EM = 0.875;
const HEIGHT_EM = 5.625;

export function timelinePanel(page) {
  const canvas = el("canvas", { id: "timeline", width: 600, height: 90, role: "img", "aria-label": t("heading") });
  canvas.style.height = `${HEIGHT_EM}em`;
  const rate = (r) => number(r, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

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
    // The canvas's own font size is the side bar's (it follows the root's on the wall).
    const style = getComputedStyle(canvas);
    const size = parseFloat(style.fontSize) * CAPTION_EM;
    const max = Math.max(1, ...rates);
    ctx.strokeStyle = "#f0883e";
    ctx.lineWidth = Math.max(2, size / 7);
    ctx.beginPath();
    rates.forEach((r, i) => {
      const x = (i / Math.max(1, rates.length - 1)) * width, y = height - 4 - (r / max) * (height - 10 - size * 1.4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = "#e6edf3";
    ctx.font = `${size}px ${style.fontFamily}`;
    ctx.textBaseline = "top";
    const now = rates.length ? rates[rates.length - 1] : 0;
    const caption = t("caption", rate(now), rate(max));
    ctx.fillText(caption, 4, 2);
    canvas.setAttribute("aria-label", caption);
    canvas.dataset.buckets = String(rates.length);
    canvas.dataset.captionPx = String(size);
  }

  sample();
  setInterval(sample, EVERY_MS);
  return { elements: [section(t("heading"), "timeline-panel", canvas)] };
}
