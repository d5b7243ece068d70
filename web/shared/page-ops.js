// The operations room (/ops/): the wall map with every panel an operator
// works from — the zones by risk, messages and who acknowledged them,
// hotspots named by zone, reports to triage, the rumour register, the
// ingest rate, alerts, the authorities' official alerts, the composer, the
// time slider that replays the last hours and the after-action download.

import { openLivePage } from "/shared/live-page.js";
import { messagesPanel, acknowledgements } from "/shared/panel-messages.js";
import { responderHotspots } from "/shared/panel-hotspots.js";
import { triagePanel } from "/shared/panel-triage.js";
import { rumourPanel } from "/shared/panel-rumours.js";
import { timelinePanel } from "/shared/panel-timeline.js";
import { replayPanel } from "/shared/panel-replay.js";
import { exportPanel } from "/shared/panel-export.js";
import { alertsPanel } from "/shared/panel-alerts.js";
import { composerPanel } from "/shared/panel-composer.js";
import { zonesPanel } from "/shared/panel-zones.js";
import { ZoneWatch } from "/shared/zones.js";
import { trendsPanel } from "/shared/panel-trends.js";
import { postsPanel } from "/shared/panel-posts.js";
import { officialPanel } from "/shared/panel-official.js";
import { words } from "/shared/i18n.js";

export const WORDS = {
  en: { surface: "operations room", token: "Operator token" },
  it: { surface: "sala operativa", token: "Token dell'operatore" },
};
const t = words(WORDS);

const page = await openLivePage({ surface: t("surface"), tokenLabel: t("token"), finestResolution: (r) => r.max });
const zones = page.add(new ZoneWatch(page));
page.add(zonesPanel(page, zones));
page.add(replayPanel(page, zones));
page.add(exportPanel(page));
page.add(messagesPanel(page, acknowledgements(page)));
page.add(responderHotspots(page, zones));
const posts = postsPanel(page);
page.add(trendsPanel(page, { openPosts: posts.open }));
page.add(posts);
// Built before triage, which hands them rumours to answer and link; shown below it.
const composer = composerPanel(page);
const register = rumourPanel(page);
page.add(triagePanel(page, { answerRumour: (report) => composer.answerRumour(report), register }));
page.add(register);
page.add(timelinePanel(page));
page.add(alertsPanel(page));
page.add(officialPanel(page));
page.add(composer);
page.start();
