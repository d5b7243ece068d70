// The commander's tablet in the street (/field/): their own zone first with
// a head-count in one tap, messages to acknowledge, hotspots in figures,
// field reports sent from where the tablet is, and METHANE reports.

import { openLivePage } from "/shared/live-page.js";
import { messagesPanel, acknowledgeButton } from "/shared/panel-messages.js";
import { responderHotspots } from "/shared/panel-hotspots.js";
import { reportFormPanel, watchDevice } from "/shared/panel-report-form.js";
import { methanePanel } from "/shared/panel-methane.js";
import { ownZonePanel } from "/shared/panel-zones.js";
import { ZoneWatch } from "/shared/zones.js";
import { words } from "/shared/i18n.js";

const t = words({
  en: { surface: "field", token: "Commander token", title: "Field report", note: "Note", send: "Send field report" },
  it: { surface: "sul campo", token: "Codice del comandante", title: "Rapporto dal campo", note: "Nota", send: "Invia rapporto dal campo" },
});

const page = await openLivePage({ surface: t("surface"), tokenLabel: t("token"), finestResolution: (r) => r.max });
// The tablet's position: its own zone, and where its reports are placed until the commander taps the map.
const device = watchDevice();
if ("geolocation" in navigator) {
  // The commander's surroundings first.
  navigator.geolocation.getCurrentPosition((p) => page.map.map.flyTo({ center: [p.coords.longitude, p.coords.latitude], zoom: 16 }),
    () => {}, { maximumAge: 60000, timeout: 10000 });
}
const zones = page.add(new ZoneWatch(page));
page.add(ownZonePanel(page, zones, { locate: device.latest }));
page.add(messagesPanel(page, acknowledgeButton(page)));
page.add(responderHotspots(page, zones));
const reports = reportFormPanel(page, {
  wording: { title: t("title"), note: t("note"), send: t("send") },
  crowdEstimate: true,
  device,
});
page.add(reports);
const methane = page.add(methanePanel(page, reports));
// A METHANE report goes through the field report's queue, to the field report's location.
reports.requireLocation(methane.elements[0].querySelector("form"));
page.start();
