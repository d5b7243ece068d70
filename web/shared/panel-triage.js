// Triage on the wall map: new reports appear by themselves; one click to
// verify or dismiss; "Rumour…" marks a report false and links it to an
// entry of the rumour register (existing or new) in one step, and prepares
// the composer's answer.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { categoryLabel } from "/shared/panel-report-form.js";
import { rumourLinker } from "/shared/panel-rumours.js";

/** A METHANE report's seven headings, each under its letter. */
function methaneList(m) {
  const casualties = [Number.isFinite(m.casualties?.number) ? String(m.casualties.number) : null, m.casualties?.kind].filter(Boolean).join(", ");
  const services = [m.emergency_services?.present ? `present: ${m.emergency_services.present}` : null,
    m.emergency_services?.required ? `required: ${m.emergency_services.required}` : null].filter(Boolean).join("; ");
  const rows = [["M", "Major incident", m.major_incident ? "Declared" : "Not declared"], ["E", "Exact location", m.exact_location],
    ["T", "Type", m.type], ["H", "Hazards", m.hazards], ["A", "Access", m.access], ["N", "Casualties", casualties], ["E", "Services", services]];
  return el("dl", { class: "methane-list" }, ...rows.flatMap(([letter, words, value]) => [
    el("dt", {}, el("span", { class: "letter", "aria-hidden": "true", text: letter }), words),
    el("dd", { text: value || "—" })]));
}

/** `answerRumour(report)` prepares the public answer to a report marked as a
 *  rumour; `register` is the rumour register panel its entries come from. */
export function triagePanel(page, { answerRumour, register }) {
  const reports = new Map();
  // Open "Rumour…" forms by report id, kept across redraws so that what an
  // operator typed survives a new report arriving.
  const linkers = new Map();
  const panel = section("Reports to triage", "triage", el("p", { class: "none", text: "No reports waiting." }));
  const list = panel.querySelector("#triage");

  function render() {
    const waiting = [...reports.values()].filter((r) => r.status === "unverified").reverse();
    if (!waiting.length) {
      list.replaceChildren(el("p", { class: "none", text: "No reports waiting." }));
      return;
    }
    list.replaceChildren(...waiting.map((r) => el("article", { class: r.methane ? "report methane-card" : "report" },
      el("h3", { text: r.methane ? `METHANE${r.methane.major_incident ? " · MAJOR INCIDENT" : ""} · ${categoryLabel(r.category)}` : `${categoryLabel(r.category)} · ${r.origin}` }),
      ...(r.methane ? [methaneList(r.methane)] : [el("p", { text: [r.text, r.crowd_estimate ? `~${r.crowd_estimate} people` : null].filter(Boolean).join(" · ") || "(no text)" })]),
      el("div", { class: "actions" },
        el("button", { text: "Verify", onclick: () => moderate(r.id, "verified") }),
        el("button", { text: "Dismiss", onclick: () => moderate(r.id, "dismissed") }),
        el("button", { text: "Rumour…", "aria-expanded": String(linkers.has(r.id)), onclick: () => toggleLinker(r) })),
      ...(linkers.has(r.id) ? [linkers.get(r.id)] : []))));
  }

  function toggleLinker(r) {
    if (linkers.has(r.id)) linkers.delete(r.id);
    else linkers.set(r.id, rumourLinker(page, register, r, () => { linkers.delete(r.id); answerRumour(r); }));
    render();
  }

  async function load() {
    try {
      const waiting = await getJson("/api/v1/reports?status=unverified", page.token());
      for (const f of waiting.features) reports.set(f.properties.id, f.properties);
      render();
    } catch { /* the connection state says why */ }
  }

  // The new status comes back on the reports channel, which re-renders.
  async function moderate(id, status) {
    await fetch(`/api/v1/reports/${encodeURIComponent(id)}`, {
      method: "PATCH", headers: { Authorization: `Bearer ${page.token()}`, "Content-Type": "application/json" }, body: JSON.stringify({ status }),
    });
  }

  return {
    elements: [panel],
    subscriptions: () => [{ channel: "reports" }],
    on: {
      report(msg) {
        reports.set(msg.report.id, msg.report);
        render();
      },
    },
    started: load,
  };
}
