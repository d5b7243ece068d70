// The public rumour page (/rumours/), after FEMA's Rumor Control: every
// published claim, newest update first, "Rumour: …" then "Fact: …" with a
// status stamp, in the reader's language (English or Italian, switchable),
// the zones named; refreshed every 30 seconds, with the Atom feed linked.

import { getJson } from "/shared/campanile.js";
import { el } from "/shared/dom.js";
import { WORDS, readerLanguage, entryCard } from "/shared/rumours.js";

const REFRESH_MS = 30000;
const stored = sessionStorage.getItem("campanile.lang");
let lang = WORDS[stored] ? stored : readerLanguage();
let entries = [];
let readAt = null;
let failed = false;
const zoneNames = new Map();

const heading = el("h1");
const switcher = el("div", { class: "lang-switch", role: "group", "aria-label": "Language / Lingua" },
  ...Object.entries(WORDS).map(([tag, words]) => el("button", { type: "button", lang: tag, "data-lang": tag, text: words.languageName, onclick: () => choose(tag) })));
const safetyLink = el("a", { href: "/" });
const intro = el("p", { class: "intro" });
const list = el("div", { class: "rumour-list", id: "rumours", "aria-live": "polite" });
const feedLink = el("a", { href: "/api/v1/rumours.atom", type: "application/atom+xml" });
const refreshed = el("p", { class: "refreshed", role: "status" });
document.body.prepend(
  el("header", {}, heading, switcher, safetyLink),
  el("main", { class: "rumours-page" }, intro, list, el("p", { class: "feeds" }, feedLink), refreshed));

function render() {
  const words = WORDS[lang];
  document.documentElement.lang = lang;
  document.title = `Campanile — ${words.title}`;
  heading.textContent = words.title;
  safetyLink.textContent = words.safety;
  intro.textContent = words.intro;
  feedLink.textContent = words.feed;
  for (const b of switcher.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  list.replaceChildren(...(entries.length ? entries.map((e) => entryCard(e, lang, zoneNames)) : [el("p", { class: "none", text: words.none })]));
  const at = readAt ? new Intl.DateTimeFormat(words.locale, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(readAt) : "—";
  refreshed.textContent = failed ? words.unreachable : `${words.refreshed} ${at}`;
}

function choose(tag) {
  lang = tag;
  sessionStorage.setItem("campanile.lang", tag);
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
