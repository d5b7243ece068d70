// A commander's METHANE report (JESIP) on one screen: the seven headings,
// each under its letter, big enough for a gloved thumb, sent as a field
// report through the same queue as the others (so it waits out a dead
// network too). M and the first E are required, as the server requires.

import { el, section } from "/shared/dom.js";
import { categoryLabel } from "/shared/panel-report-form.js";

/** One heading: its letter, its words, its input. */
function heading(letter, words, input) {
  return el("label", { class: "methane-row" }, el("span", { class: "letter", "aria-hidden": "true", text: letter }),
    el("span", { class: "words", text: words }), input);
}

const text = (id, placeholder, required = false) =>
  el("input", { id, type: "text", maxlength: "500", autocomplete: "off", placeholder, ...(required ? { required: "" } : {}) });

/** `reports` is the field report panel, whose queue sends it. */
export function methanePanel(page, reports) {
  const yes = el("input", { type: "radio", name: "m-major", id: "m-major-yes", value: "yes", required: "" });
  const no = el("input", { type: "radio", name: "m-major", id: "m-major-no", value: "no" });
  const location = text("m-location", "Where exactly", true);
  const type = text("m-type", "What happened");
  const hazards = text("m-hazards", "Present and potential");
  const access = text("m-access", "Routes in, rendezvous point");
  const number = el("input", { id: "m-casualties", type: "number", min: "0", max: "100000", inputmode: "numeric", placeholder: "How many" });
  const kind = text("m-casualty-kind", "Kind, e.g. 3 P1, 9 P3");
  const present = text("m-present", "On scene");
  const required = text("m-required", "Needed");
  const category = el("select", { id: "m-category", "aria-label": "report category" },
    ...page.event.reportCategories.map((v) => el("option", { value: v, text: categoryLabel(v) })));
  const status = el("p", { id: "m-status", class: "preview", "aria-live": "polite" });
  const form = el("form", { id: "methane-form", class: "methane" },
    el("fieldset", { class: "methane-row" },
      el("legend", {}, el("span", { class: "letter", "aria-hidden": "true", text: "M" }), el("span", { class: "words", text: "Major incident declared?" })),
      el("div", { class: "choices" }, el("label", { class: "choice" }, yes, " Yes"), el("label", { class: "choice" }, no, " No"))),
    heading("E", "Exact location", location),
    heading("T", "Type of incident", type),
    heading("H", "Hazards", hazards),
    heading("A", "Access", access),
    el("div", { class: "methane-row pair" }, el("span", { class: "letter", "aria-hidden": "true", text: "N" }),
      el("label", {}, el("span", { class: "words", text: "Number of casualties" }), number),
      el("label", {}, el("span", { class: "words", text: "Kind of casualties" }), kind)),
    el("div", { class: "methane-row pair" }, el("span", { class: "letter", "aria-hidden": "true", text: "E" }),
      el("label", {}, el("span", { class: "words", text: "Emergency services present" }), present),
      el("label", {}, el("span", { class: "words", text: "Emergency services required" }), required)),
    el("label", { class: "field" }, el("span", { text: "Report category" }), category),
    el("button", { type: "submit", class: "send-report", text: "Send METHANE report" }),
    status);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = (input) => input.value.trim() || undefined;
    const methane = {
      major_incident: yes.checked,
      exact_location: value(location),
      type: value(type),
      hazards: value(hazards),
      access: value(access),
      casualties: { number: number.value === "" ? undefined : Number(number.value), kind: value(kind) },
      emergency_services: { present: value(present), required: value(required) },
    };
    const at = reports.here();
    reports.send({ lat: at.lat, lon: at.lon, category: category.value, text: "METHANE report", methane });
    status.textContent = "METHANE report queued; the line below says when it is received.";
    form.reset();
  });

  return { elements: [section("METHANE report", "methane", form)] };
}
