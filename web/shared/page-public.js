// The public page (/): the messages for where the reader is, how busy the
// named places are in words and icons (never in numbers), a report form,
// the rumour control page and the Atom feed of messages.
//
// No analyst's words reach the public: no time window, no H3 resolution, no
// density figure, no CAP document per message (the one Atom feed at the
// bottom carries them for whoever republishes them). The heat is read at one
// resolution whatever the screen or the zoom, the public's finest
// (event.resolutions.public_max, 9 in the demo): the server already withholds
// any cell with fewer than k distinct contributors at it, and a page that
// switched resolutions with the zoom would both tell readers on different
// screens different things and hand anyone who compares the two pictures a
// difference between them, which the contract (DESIGN §6) forbids.

import { openLivePage } from "/shared/live-page.js";
import { el } from "/shared/dom.js";
import { words } from "/shared/i18n.js";
import { messagesPanel } from "/shared/panel-messages.js";
import { reportFormPanel } from "/shared/panel-report-form.js";
import { placesPanel } from "/shared/panel-zones.js";
import { ZoneWatch } from "/shared/zones.js";

const t = words({
  en: {
    surface: "safety information",
    legend: "Map colours, from quiet to packed", quiet: "quiet", packed: "packed",
    legendNote: "The colours show how busy each part of the map is. No colour: too few people to say.",
    reportTitle: "Report a problem", note: "Tell us more (optional)", send: "Send report",
    rumours: "Rumour control: claims going round, checked",
    feed: "Atom feed of safety messages",
  },
  it: {
    surface: "informazioni di sicurezza",
    legend: "Colori della mappa, da tranquillo a molto affollato", quiet: "tranquillo", packed: "molto affollato",
    legendNote: "I colori mostrano quanto è affollata ogni parte della mappa. Nessun colore: troppe poche persone per dirlo.",
    reportTitle: "Segnala un problema", note: "Raccontaci di più (facoltativo)", send: "Invia segnalazione",
    rumours: "Controllo delle voci: le voci che girano, verificate",
    feed: "Feed Atom dei messaggi di sicurezza",
  },
});

/** The heat's legend in words: quiet to packed, and what no colour means. */
function heatLegend() {
  return { elements: [
    el("div", { class: "legend", role: "img", "aria-label": t("legend") },
      el("span", { "aria-hidden": "true", text: t("quiet") }), el("span", { class: "bar" }), el("span", { "aria-hidden": "true", text: t("packed") })),
    el("p", { class: "legend-people", text: t("legendNote") }),
  ] };
}

const page = await openLivePage({ surface: t("surface"), finestResolution: (r) => r.public_max, fixedResolution: true, chooseWindow: false });
const messages = page.add(messagesPanel(page, { byPlace: true }));
const zones = page.add(new ZoneWatch(page));
page.add(placesPanel(page, zones, { near: messages.near }));
page.add(heatLegend());
// Placed where the reader is, or where they tap the map (the tap that also picks the messages' place);
// "Use my location" picks the messages' place too.
page.add(reportFormPanel(page, {
  wording: { title: t("reportTitle"), note: t("note"), send: t("send") },
  onLocated: (at) => messages.showNear(at, "located"),
}));
page.add({ elements: [
  el("p", { class: "feeds" }, el("a", { href: "/rumours/", text: t("rumours") })),
  el("p", { class: "feeds" }, el("a", { href: "/api/v1/alerts.atom", type: "application/atom+xml", text: t("feed") })),
] });
page.start();
