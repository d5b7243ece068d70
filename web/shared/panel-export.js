// The after-action download of /ops (DESIGN §11): the last hours of the
// event as a file, from GET /api/v1/export. The page asks with the
// operator's token (a plain link could not carry it), reads the stream as
// it arrives so that the operator sees it progress, and hands the file to
// the browser under the name the server gave it.

import { el, section } from "/shared/dom.js";
import { number, words } from "/shared/i18n.js";

// Every word the panel shows, in one place for translation.
export const WORDS = {
  en: {
    title: "After-action download",
    hour1: "the last hour", hours6: "the last 6 hours", hours24: "the last 24 hours",
    all: "everything (NDJSON)",
    reports: "reports (CSV, for a spreadsheet)",
    broadcasts: "safety messages (CSV)",
    zones: "zones minute by minute (CSV)",
    heatmap: "heatmap minute by minute (GeoJSON, for GIS)",
    geojson: "reports, messages and alerts (GeoJSON)",
    period: "Period to download",
    what: "What to download",
    download: "Download",
    stop: "Stop",
    preparing: "Preparing the file…",
    notDownloaded: (why) => `Not downloaded: ${why}`,
    downloading: (size) => `Downloading… ${size}`,
    saved: (name, size) => `Saved ${name} (${size}).`,
    stopped: "Download stopped.",
    unreachable: "Not downloaded: the server could not be reached.",
  },
  it: {
    title: "Dati per l'analisi dopo l'evento",
    hour1: "l'ultima ora", hours6: "le ultime 6 ore", hours24: "le ultime 24 ore",
    all: "tutto (NDJSON)",
    reports: "segnalazioni (CSV, per un foglio di calcolo)",
    broadcasts: "messaggi di sicurezza (CSV)",
    zones: "zone minuto per minuto (CSV)",
    heatmap: "mappa della densità minuto per minuto (GeoJSON, per GIS)",
    geojson: "segnalazioni, messaggi e allarmi (GeoJSON)",
    period: "Periodo da scaricare",
    what: "Cosa scaricare",
    download: "Scarica",
    stop: "Interrompi",
    preparing: "Preparazione del file…",
    notDownloaded: (why) => `Non scaricato: ${why}`,
    downloading: (size) => `Download in corso… ${size}`,
    saved: (name, size) => `Salvato ${name} (${size}).`,
    stopped: "Download interrotto.",
    unreachable: "Non scaricato: il server non è raggiungibile.",
  },
};
const t = words(WORDS);

const PERIODS = [[1, "hour1"], [6, "hours6"], [24, "hours24"]];
const CONTENTS = [
  ["all:ndjson", "all"],
  ["reports:csv", "reports"],
  ["broadcasts:csv", "broadcasts"],
  ["zones:csv", "zones"],
  ["heatmap:geojson", "heatmap"],
  ["reports,broadcasts,alerts:geojson", "geojson"],
];

const megabytes = (n) => (n < 1e6 ? `${number(Math.max(1, Math.round(n / 1e3)))} kB` : `${number(n / 1e6, { minimumFractionDigits: 1, maximumFractionDigits: 1 })} MB`);

/** The file name in a Content-Disposition header, or `fallback`. */
function filenameOf(disposition, fallback) {
  return /filename="([^"]+)"/.exec(disposition ?? "")?.[1] ?? fallback;
}

export function exportPanel(page) {
  const period = el("select", { id: "export-period", "aria-label": t("period") },
    ...PERIODS.map(([hours, key]) => el("option", { value: String(hours), text: t(key) })));
  const contents = el("select", { id: "export-what", "aria-label": t("what") },
    ...CONTENTS.map(([value, key]) => el("option", { value, text: t(key) })));
  const start = el("button", { id: "export-start", type: "button", text: t("download") });
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
    start.textContent = t("stop");
    status.textContent = t("preparing");
    try {
      const resp = await fetch(`/api/v1/export?${query}`, {
        headers: { Authorization: `Bearer ${page.token()}` }, signal: running.signal,
      });
      if (!resp.ok) {
        const answer = await resp.json().catch(() => null);
        status.textContent = t("notDownloaded", answer?.error?.message ?? resp.statusText);
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
        status.textContent = t("downloading", megabytes(size));
      }
      const name = filenameOf(resp.headers.get("Content-Disposition"), `campanile-export.${format}`);
      const url = URL.createObjectURL(new Blob(parts, { type: resp.headers.get("Content-Type") ?? "" }));
      const link = el("a", { href: url, download: name, hidden: "" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status.textContent = t("saved", name, megabytes(size));
    } catch (e) {
      status.textContent = e.name === "AbortError" ? t("stopped") : t("unreachable");
    } finally {
      running = null;
      start.textContent = t("download");
    }
  }

  start.addEventListener("click", download);
  return {
    elements: [section(t("title"), "export-panel",
      el("div", { class: "export-controls" }, contents, period, start), status)],
  };
}
