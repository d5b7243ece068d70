// The after-action download of /ops (DESIGN §11): the last hours of the
// event as a file, from GET /api/v1/export. The page asks with the
// operator's token (a plain link could not carry it), reads the stream as
// it arrives so that the operator sees it progress, and hands the file to
// the browser under the name the server gave it.

import { el, section } from "/shared/dom.js";

const PERIODS = [[1, "the last hour"], [6, "the last 6 hours"], [24, "the last 24 hours"]];
const CONTENTS = [
  ["all:ndjson", "everything (NDJSON)"],
  ["reports:csv", "reports (CSV, for a spreadsheet)"],
  ["broadcasts:csv", "safety messages (CSV)"],
  ["zones:csv", "zones minute by minute (CSV)"],
  ["heatmap:geojson", "heatmap minute by minute (GeoJSON, for GIS)"],
  ["reports,broadcasts,alerts:geojson", "reports, messages and alerts (GeoJSON)"],
];

const megabytes = (n) => (n < 1e6 ? `${Math.max(1, Math.round(n / 1e3))} kB` : `${(n / 1e6).toFixed(1)} MB`);

/** The file name in a Content-Disposition header, or `fallback`. */
function filenameOf(disposition, fallback) {
  return /filename="([^"]+)"/.exec(disposition ?? "")?.[1] ?? fallback;
}

export function exportPanel(page) {
  const period = el("select", { id: "export-period", "aria-label": "Period to download" },
    ...PERIODS.map(([hours, words]) => el("option", { value: String(hours), text: words })));
  const contents = el("select", { id: "export-what", "aria-label": "What to download" },
    ...CONTENTS.map(([value, words]) => el("option", { value, text: words })));
  const start = el("button", { id: "export-start", type: "button", text: "Download" });
  const status = el("p", { id: "export-status", class: "preview", "aria-live": "polite" });
  let running = null;

  async function download() {
    if (running) {
      running.abort();
      return;
    }
    const [what, format] = contents.value.split(":");
    const to = new Date();
    const from = new Date(to.getTime() - Number(period.value) * 3600000);
    const iso = (t) => t.toISOString().replace(/\.\d+Z$/, "Z");
    const query = new URLSearchParams({ from: iso(from), to: iso(to), format });
    if (what !== "all") query.set("what", what);
    running = new AbortController();
    start.textContent = "Stop";
    status.textContent = "Preparing the file…";
    try {
      const resp = await fetch(`/api/v1/export?${query}`, {
        headers: { Authorization: `Bearer ${page.token()}` }, signal: running.signal,
      });
      if (!resp.ok) {
        const answer = await resp.json().catch(() => null);
        status.textContent = `Not downloaded: ${answer?.error?.message ?? resp.statusText}`;
        return;
      }
      const reader = resp.body.getReader();
      const parts = [];
      let size = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        size += value.length;
        status.textContent = `Downloading… ${megabytes(size)}`;
      }
      const name = filenameOf(resp.headers.get("Content-Disposition"), `campanile-export.${format}`);
      const url = URL.createObjectURL(new Blob(parts, { type: resp.headers.get("Content-Type") ?? "" }));
      const link = el("a", { href: url, download: name, hidden: "" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status.textContent = `Saved ${name} (${megabytes(size)}).`;
    } catch (e) {
      status.textContent = e.name === "AbortError" ? "Download stopped." : "Not downloaded: the server could not be reached.";
    } finally {
      running = null;
      start.textContent = "Download";
    }
  }

  start.addEventListener("click", download);
  return {
    elements: [section("After-action download", "export-panel",
      el("div", { class: "export-controls" }, contents, period, start), status)],
  };
}
