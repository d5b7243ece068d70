// The pages' language: which one the reader gets, the words of each module
// in it, and numbers and times in the reader's locale.
//
// Each module keeps its own words (`const t = words({ en: {…}, it: {…} })`),
// so that a panel and its translation are read, changed and reviewed
// together. The language is the reader's choice when they made one (the
// switch in the header, kept in localStorage), else the first of the
// browser's languages the pages speak, else English. Switching reloads the
// page: every panel is then drawn in the new language from the start, and
// none is left half in the old one.

import { el } from "/shared/dom.js";

/** The languages the pages speak, with the locale their numbers and times follow. */
export const LANGUAGES = {
  en: { name: "English", locale: "en-GB" },
  it: { name: "Italiano", locale: "it-IT" },
};

const STORE_KEY = "campanile.lang";
/** A language tag's primary subtag, lower-cased: "it-IT" → "it". */
export const primaryTag = (tag) => String(tag || "").toLowerCase().split("-")[0];

function stored() {
  try {
    return localStorage.getItem(STORE_KEY) ?? sessionStorage.getItem(STORE_KEY);
  } catch {
    return null; // storage refused (private mode, a sandboxed frame): the browser's languages decide
  }
}

/** The first of `languages` the pages speak, else English. */
export function readerLanguage(languages = navigator.languages || [navigator.language]) {
  for (const tag of languages) if (LANGUAGES[primaryTag(tag)]) return primaryTag(tag);
  return "en";
}

let current = LANGUAGES[stored()] ? stored() : readerLanguage();
document.documentElement.lang = current;

/** The language the page is drawn in: "en" or "it". */
export const language = () => current;
/** The locale of numbers, dates and times ("it-IT"). */
export const locale = () => LANGUAGES[current].locale;

/** Keeps the reader's choice and draws the page again in it. */
export function setLanguage(tag, { reload = true } = {}) {
  if (!LANGUAGES[tag] || tag === current) return;
  try { localStorage.setItem(STORE_KEY, tag); } catch { /* the choice lasts this page only */ }
  current = tag;
  document.documentElement.lang = tag;
  if (reload) location.reload();
}

// Every module's words, for the check that no language lacks an entry.
const tables = [];

/** The keys some language lacks, as "it: key" lines (the browser tests expect none). */
export function missingTranslations() {
  const missing = [];
  for (const table of tables) {
    for (const key of Object.keys(table.en ?? {})) {
      for (const tag of Object.keys(LANGUAGES)) if (!(key in (table[tag] ?? {}))) missing.push(`${tag}: ${key}`);
    }
  }
  return missing;
}

/** The English entries that read differently in `tag`: none of them may show on a page drawn in `tag`. */
export function englishOnly(tag = current) {
  const out = [];
  for (const table of tables) {
    for (const [key, value] of Object.entries(table.en ?? {})) {
      const other = table[tag]?.[key];
      if (typeof value === "string" && typeof other === "string" && other !== value) out.push(value);
    }
  }
  return out;
}

/**
 * A module's words: `t(key, ...args)` gives the entry in the page's language
 * (English when the language lacks it), called with `args` when it is a
 * function. A missing key is returned as itself, so that it shows in a
 * screenshot rather than as "undefined".
 */
export function words(table) {
  tables.push(table);
  return (key, ...args) => {
    const entry = table[current]?.[key] ?? table.en?.[key];
    if (entry === undefined) return key;
    return typeof entry === "function" ? entry(...args) : entry;
  };
}

/** A number in the reader's locale ("1,234.5" / "1.234,5"). */
export const number = (n, options = {}) => new Intl.NumberFormat(locale(), options).format(n);
/** A clock time in the reader's locale, 24-hour: "14:05" (with seconds when asked). */
export const clock = (date, { seconds = false } = {}) =>
  new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}), hourCycle: "h23" }).format(new Date(date));
/** A date and time in the reader's locale. */
export const dateTime = (date) =>
  new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" }).format(new Date(date));

const own = words({
  en: { label: "Language" },
  it: { label: "Lingua" },
});

/**
 * The switch between the languages `offered` (the event's, those the pages
 * speak), each named in its own language so that a reader who cannot read
 * the current one still finds theirs.
 */
export function languageSwitch(offered = Object.keys(LANGUAGES)) {
  const tags = offered.map(primaryTag).filter((tag, i, all) => LANGUAGES[tag] && all.indexOf(tag) === i);
  if (!tags.includes("en")) tags.push("en");
  if (!tags.includes(current)) tags.push(current);
  return el("div", { class: "lang-switch", role: "group", "aria-label": `${own("label")} / ${current === "en" ? "Lingua" : "Language"}` },
    ...tags.map((tag) => el("button", {
      type: "button", lang: tag, "data-lang": tag, text: LANGUAGES[tag].name,
      "aria-pressed": String(tag === current), onclick: () => setLanguage(tag),
    })));
}
