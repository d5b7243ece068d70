// A commander's METHANE report (JESIP) on one screen: the seven headings,
// each under its letter, big enough for a gloved thumb, sent as a field
// report through the same queue as the others (so it waits out a dead
// network too). M and the first E are required, as the server requires.

import { el, section } from "/shared/dom.js";
import { categoryLabel } from "/shared/panel-report-form.js";
import { words } from "/shared/i18n.js";

// The letters stay those of METHANE in every language: it is the name commanders are trained in.
const t = words({
  en: {
    title: "METHANE report", where: "Where exactly", what: "What happened", hazards: "Present and potential",
    access: "Routes in, rendezvous point", howMany: "How many", kind: "Kind, e.g. 3 P1, 9 P3", present: "On scene", required: "Needed",
    category: "report category", categoryField: "Report category",
    major: "Major incident declared?", yes: " Yes", no: " No",
    exact: "Exact location", type: "Type of incident", hazardsField: "Hazards", accessField: "Access",
    number: "Number of casualties", kindField: "Kind of casualties",
    servicesPresent: "Emergency services present", servicesRequired: "Emergency services required",
    send: "Send METHANE report", queued: "METHANE report queued; the line below says when it is received.",
  },
  it: {
    title: "Rapporto METHANE", where: "Dove esattamente", what: "Cosa è successo", hazards: "Presenti e possibili",
    access: "Vie d'accesso, punto di raccolta", howMany: "Quanti", kind: "Tipo, es. 3 P1, 9 P3", present: "Sul posto", required: "Necessari",
    category: "categoria della segnalazione", categoryField: "Categoria della segnalazione",
    major: "Dichiarata maxi-emergenza?", yes: " Sì", no: " No",
    exact: "Luogo esatto", type: "Tipo di evento", hazardsField: "Pericoli", accessField: "Accesso",
    number: "Numero di feriti", kindField: "Tipo di feriti",
    servicesPresent: "Soccorsi presenti", servicesRequired: "Soccorsi necessari",
    send: "Invia rapporto METHANE", queued: "Rapporto METHANE in coda; la riga qui sotto dice quando è ricevuto.",
  },
});

/** One heading: its letter, its words, its input. */
function heading(letter, label, input) {
  return el("label", { class: "methane-row" }, el("span", { class: "letter", "aria-hidden": "true", text: letter }),
    el("span", { class: "words", text: label }), input);
}

const text = (id, placeholder, required = false) =>
  el("input", { id, type: "text", maxlength: "500", autocomplete: "off", placeholder, ...(required ? { required: "" } : {}) });

/** `reports` is the field report panel, whose queue sends it. */
export function methanePanel(page, reports) {
  const yes = el("input", { type: "radio", name: "m-major", id: "m-major-yes", value: "yes", required: "" });
  const no = el("input", { type: "radio", name: "m-major", id: "m-major-no", value: "no" });
  const location = text("m-location", t("where"), true);
  const type = text("m-type", t("what"));
  const hazards = text("m-hazards", t("hazards"));
  const access = text("m-access", t("access"));
  const number = el("input", { id: "m-casualties", type: "number", min: "0", max: "100000", inputmode: "numeric", placeholder: t("howMany") });
  const kind = text("m-casualty-kind", t("kind"));
  const present = text("m-present", t("present"));
  const required = text("m-required", t("required"));
  const category = el("select", { id: "m-category", "aria-label": t("category") },
    ...page.event.reportCategories.map((v) => el("option", { value: v, text: categoryLabel(v) })));
  const status = el("p", { id: "m-status", class: "preview", "aria-live": "polite" });
  const form = el("form", { id: "methane-form", class: "methane" },
    el("fieldset", { class: "methane-row" },
      el("legend", {}, el("span", { class: "letter", "aria-hidden": "true", text: "M" }), el("span", { class: "words", text: t("major") })),
      el("div", { class: "choices" }, el("label", { class: "choice" }, yes, t("yes")), el("label", { class: "choice" }, no, t("no")))),
    heading("E", t("exact"), location),
    heading("T", t("type"), type),
    heading("H", t("hazardsField"), hazards),
    heading("A", t("accessField"), access),
    el("div", { class: "methane-row pair" }, el("span", { class: "letter", "aria-hidden": "true", text: "N" }),
      el("label", {}, el("span", { class: "words", text: t("number") }), number),
      el("label", {}, el("span", { class: "words", text: t("kindField") }), kind)),
    el("div", { class: "methane-row pair" }, el("span", { class: "letter", "aria-hidden": "true", text: "E" }),
      el("label", {}, el("span", { class: "words", text: t("servicesPresent") }), present),
      el("label", {}, el("span", { class: "words", text: t("servicesRequired") }), required)),
    el("label", { class: "field" }, el("span", { text: t("categoryField") }), category),
    el("button", { type: "submit", class: "send-report", text: t("send") }),
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
    status.textContent = t("queued");
    form.reset();
  });

  return { elements: [section(t("title"), "methane", form)] };
}
