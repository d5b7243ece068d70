// The public rumour page (/rumours/), after FEMA's Rumor Control: every
// published claim, newest update first, "Rumour: …" then "Fact: …" with a
// status stamp, in the reader's language (English or Italian, switchable),
// the zones named; refreshed every 30 seconds, with the Atom feed linked.
// The language is the other pages' (i18n.js): chosen here, it holds there
// too. Switching redraws this page in place (everything on it is drawn by
// render()), so that the reader keeps their place in the list.

import { getJson } from "/shared/campanile.js";
import { el } from "/shared/dom.js";
import { LANGUAGES, language, locale, setLanguage } from "/shared/i18n.js";
import { t, entryCard } from "/shared/rumours.js";

const REFRESH_MS = 30000;
let entries = [];
let readAt = null;
let failed = false;
const zoneNames = new Map();

const heading = el("h1");
const switcher = el("div", { class: "lang-switch", role: "group", "aria-label": "Language / Lingua" },
  ...Object.entries(LANGUAGES).map(([tag, { name }]) => el("button", { type: "button", lang: tag, "data-lang": tag, text: name, onclick: () => choose(tag) })));
const safetyLink = el("a", { href: "/" });
const intro = el("p", { class: "intro" });
const list = el("div", { class: "rumour-list", id: "rumours", "aria-live": "polite" });
const feedLink = el("a", { href: "/api/v1/rumours.atom", type: "application/atom+xml" });
const refreshed = el("p", { class: "refreshed", role: "status" });
document.body.prepend(
  el("header", {}, heading, switcher, safetyLink),
  el("main", { class: "rumours-page" }, intro, list, el("p", { class: "feeds" }, feedLink), refreshed));

function render() {
  const lang = language();
  document.title = `Campanile — ${t("title")}`;
  heading.textContent = t("title");
  safetyLink.textContent = t("safety");
  intro.textContent = t("intro");
  feedLink.textContent = t("feed");
  for (const b of switcher.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  list.replaceChildren(...(entries.length ? entries.map((e) => entryCard(e, lang, zoneNames)) : [el("p", { class: "none", text: t("none") })]));
  const at = readAt ? new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(readAt) : "—";
  refreshed.textContent = failed ? t("unreachable") : `${t("refreshed")} ${at}`;
}

/** Keeps the reader's choice for every page and draws this one again in it. */
function choose(tag) {
  setLanguage(tag, { reload: false });
  render();
}

async function refresh() {
  try {
    const answer = await getJson("/api/v1/rumours");
    // The server sends them newest update first; kept so if it ever did not.
    entries = [...answer.rumours].sort((a, b) => Date.parse(b.updated) - Date.parse(a.updated));
    readAt = new Date();
    failed = false;
  } catch {
    failed = true;
  }
  render();
}

getJson("/api/v1/zones").then((zones) => {
  for (const f of zones.features ?? []) zoneNames.set(f.properties.id, f.properties.name);
  render();
}).catch(() => {});
render();
await refresh();
setInterval(refresh, REFRESH_MS);
