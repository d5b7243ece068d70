// Reports from the public and from commanders: what is happening (the
// event's report categories), a note and, in the street, a crowd estimate.
// Reports wait in a queue on the device, so that a report made while the
// network is down is sent when it returns (the tablet on flaky 4G).

import { el, section } from "/shared/dom.js";

// Words people recognise for the categories this page knows; the event may
// name others, which are shown readably rather than left out.
const CATEGORY_LABELS = { crowd: "Too crowded", medical: "Someone needs medical help", fire: "Fire or smoke",
  violence: "Violence", missing_person: "Missing person", suspicious_item: "Suspicious item",
  infrastructure: "Broken barrier, light or exit", rumour: "A rumour I heard", other: "Something else" };

/** A report category in words: "missing_person" → "Missing person" when the page has no better label. */
export function categoryLabel(category) {
  if (Object.hasOwn(CATEGORY_LABELS, category)) return CATEGORY_LABELS[category];
  const spaced = String(category).replace(/[_-]+/g, " ").trim();
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

const QUEUE_KEY = "campanile.reportQueue";
const RETRY_MS = 10000;
const queued = () => JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
const saveQueue = (q) => localStorage.setItem(QUEUE_KEY, JSON.stringify(q));

/**
 * `wording` names the form, its note and its button for its readers;
 * `crowdEstimate` adds the number of people seen; `locate()` says where the
 * reporter is (else the map's centre is used).
 */
export function reportFormPanel(page, { wording, crowdEstimate = false, locate = () => null }) {
  const category = el("select", { id: "r-category", "aria-label": "what is happening" },
    ...page.event.reportCategories.map((v) => el("option", { value: v, text: categoryLabel(v) })));
  const crowd = el("input", { id: "r-crowd", type: "number", min: "0", inputmode: "numeric" });
  const note = el("textarea", { id: "r-text", rows: "2", maxlength: "2000" });
  const status = el("p", { id: "r-status", class: "preview", "aria-live": "polite" });
  const form = el("form", { id: "report-form" },
    el("label", { class: "field" }, el("span", { text: "What is happening" }), category),
    ...(crowdEstimate ? [el("label", { class: "field" }, el("span", { text: "Crowd estimate (people)" }), crowd)] : []),
    el("label", { class: "field" }, el("span", { text: wording.note }), note),
    el("button", { type: "submit", class: "send-report", text: wording.send }),
    status);

  let flushing = null;
  // One flush at a time: the "online" event, the timer and a new report may all
  // ask at once, and each report must be sent once.
  function flush() {
    flushing ??= sendQueued().finally(() => { flushing = null; });
    return flushing;
  }

  async function sendQueued() {
    let queue = queued();
    while (queue.length) {
      try {
        const token = page.token();
        const resp = await fetch("/api/v1/reports", {
          method: "POST",
          headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(queue[0]),
        });
        if (resp.status >= 500 || resp.status === 429) throw new Error(`HTTP ${resp.status}`);
        const answer = await resp.json();
        queue.shift();
        saveQueue(queue);
        status.textContent = resp.ok ? `Report received (${answer.status}).` : `Report refused: ${answer.error.message}`;
      } catch {
        status.textContent = `${queue.length} report${queue.length > 1 ? "s" : ""} waiting for the network; sent automatically.`;
        return;
      }
      queue = queued();
    }
  }

  /** Where the reporter is: the device's position, else the map's centre. */
  function here() {
    const centre = page.map.map.getCenter();
    return locate() || { lat: centre.lat, lon: centre.lng };
  }

  /** Queues `report` (with its position) and sends what is queued. */
  function send(report) {
    saveQueue([...queued(), report]);
    flush();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const at = here();
    const report = { lat: at.lat, lon: at.lon, category: category.value };
    if (note.value.trim()) report.text = note.value.trim();
    if (crowdEstimate && crowd.value) report.crowd_estimate = Number(crowd.value);
    note.value = "";
    send(report);
  });
  window.addEventListener("online", flush);
  setInterval(() => { if (queued().length) flush(); }, RETRY_MS);
  flush();

  return { elements: [section(wording.title, "report", form)], send, here, status };
}
