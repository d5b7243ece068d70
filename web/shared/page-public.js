// The public page (/): the messages for where the reader is, how busy the
// named places are in words and icons (never in numbers), a report form,
// the rumour control page and the Atom feed of messages.

import { openLivePage } from "/shared/live-page.js";
import { el } from "/shared/dom.js";
import { messagesPanel, capDocumentLink } from "/shared/panel-messages.js";
import { publicHeatLegend } from "/shared/panel-hotspots.js";
import { reportFormPanel } from "/shared/panel-report-form.js";
import { placesPanel } from "/shared/panel-zones.js";
import { ZoneWatch } from "/shared/zones.js";

const page = await openLivePage({ surface: "safety information", finestResolution: (r) => r.public_max });
const messages = page.add(messagesPanel(page, { cardFooter: capDocumentLink, byPlace: true }));
const zones = page.add(new ZoneWatch(page));
page.add(placesPanel(page, zones, { near: messages.near }));
page.add(publicHeatLegend());
// Placed where the reader is, or where they tap the map (the tap that also picks the messages' place).
page.add(reportFormPanel(page, {
  wording: { title: "Report a problem", note: "Tell us more (optional)", send: "Send report" },
}));
page.add({ elements: [
  el("p", { class: "feeds" }, el("a", { href: "/rumours/", text: "Rumour control: claims going round, checked" })),
  el("p", { class: "feeds" }, el("a", { href: "/api/v1/alerts.atom", text: "Atom feed of safety messages" })),
] });
page.start();
