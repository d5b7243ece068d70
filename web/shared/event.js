// What the pages know about the deployment: GET /api/v1/event (DESIGN §3).
// The deployment says where the event is, what it is called, which windows,
// resolutions, report categories and CAP values it serves: no page
// hard-codes them. Without an answer the page still opens, on the whole world
// with the contract's defaults, as it did before the server told them.

import { getJson } from "/shared/campanile.js";

const FALLBACK = {
  name: "Campanile",
  bbox: [-180, -85, 180, 85],
  windows: ["1m", "5m", "15m", "60m"],
  defaultWindow: "15m",
  languages: ["en"],
  resolutions: { min: 7, max: 11, public_max: 9 },
  zoneLevels: [],
  kAnonymity: 5,
  countRetentionSecs: 6 * 3600,
  basemap: null,
  reportCategories: ["crowd", "medical", "fire", "violence", "missing_person", "suspicious_item", "infrastructure", "rumour", "other"],
  cap: {
    categories: ["Safety", "Security", "Rescue", "Fire", "Health", "Transport", "Infra", "Other"],
    severities: ["Extreme", "Severe", "Moderate", "Minor"],
    urgencies: ["Immediate", "Expected", "Future"],
    certainties: ["Observed", "Likely", "Possible"],
  },
};

const isText = (v) => typeof v === "string" && v.trim() !== "";
const words = (v, fallback) => (Array.isArray(v) && v.length && v.every(isText) ? v : fallback);
const whole = (v) => Number.isInteger(v);

/** The event as the pages use it; each part the server leaves out or garbles falls back on its own. */
export async function loadEvent() {
  const event = await getJson("/api/v1/event").catch(() => null);
  if (!event || typeof event !== "object") return FALLBACK;
  const r = event.resolutions;
  const cap = event.cap ?? {};
  return {
    name: isText(event.name) ? event.name : FALLBACK.name,
    bbox: Array.isArray(event.bbox) && event.bbox.length === 4 && event.bbox.every(Number.isFinite) ? event.bbox : FALLBACK.bbox,
    windows: words(event.windows, FALLBACK.windows),
    defaultWindow: isText(event.default_window) ? event.default_window : FALLBACK.defaultWindow,
    // The event's languages (BCP 47, the default first): those the language switch offers.
    languages: words(event.languages, FALLBACK.languages),
    resolutions: r && whole(r.min) && whole(r.max) && whole(r.public_max) ? r : FALLBACK.resolutions,
    reportCategories: words(event.report_categories, FALLBACK.reportCategories),
    // Fewest distinct posters behind anything shown of a place (a trend's term among them).
    countRetentionSecs: whole(event.count_retention_secs) && event.count_retention_secs > 0 ? event.count_retention_secs : FALLBACK.countRetentionSecs,
    kAnonymity: whole(event.k_anonymity) && event.k_anonymity > 0 ? event.k_anonymity : FALLBACK.kAnonymity,
    // The zones' levels in people per m² ([{level, from, below}]); none when the server names none.
    zoneLevels: Array.isArray(event.levels?.zones) && event.levels.zones.every((l) => isText(l?.level) && Number.isFinite(l?.from)) ? event.levels.zones : [],
    // The base map ({kind, url}); shared/basemap.js checks it and falls back on the built-in one.
    basemap: event.basemap ?? null,
    cap: {
      categories: words(cap.categories, FALLBACK.cap.categories),
      severities: words(cap.severities, FALLBACK.cap.severities),
      urgencies: words(cap.urgencies, FALLBACK.cap.urgencies),
      certainties: words(cap.certainties, FALLBACK.cap.certainties),
    },
  };
}
