// What the public rumour page and the operators' register share: the words
// of each language the page speaks, the status stamp (word, colour and
// mark together) and an entry's text in the reader's language.

import { el } from "/shared/dom.js";

/** The page's own words, by language. English is the fallback. */
export const WORDS = {
  en: {
    title: "Rumour control",
    intro: "Claims going round about the event, checked by the operations room. Newest update first.",
    rumour: "Rumour:",
    fact: "Fact:",
    noFact: "Being checked: wait for the fact before you pass it on.",
    where: "Where:",
    updated: "Updated",
    none: "No rumours are being tracked right now.",
    feed: "Atom feed of rumour control",
    safety: "Safety information",
    refreshed: "Refreshed every 30 s; last at",
    unreachable: "The server cannot be reached; showing what was read last.",
    languageName: "English",
    locale: "en-GB",
    stamps: { false: "FALSE", misleading: "MISLEADING", true: "TRUE", unverified: "UNVERIFIED" },
  },
  it: {
    title: "Controllo delle voci",
    intro: "Le voci che girano sull'evento, verificate dalla sala operativa. Prima l'aggiornamento più recente.",
    rumour: "Voce:",
    fact: "Fatto:",
    noFact: "In verifica: aspetta il fatto prima di diffonderla.",
    where: "Dove:",
    updated: "Aggiornato",
    none: "Nessuna voce seguita in questo momento.",
    feed: "Feed Atom del controllo delle voci",
    safety: "Informazioni di sicurezza",
    refreshed: "Aggiornato ogni 30 s; l'ultima volta alle",
    unreachable: "Il server non risponde; si vede l'ultima lettura.",
    languageName: "Italiano",
    locale: "it-IT",
    stamps: { false: "FALSO", misleading: "FUORVIANTE", true: "VERO", unverified: "NON VERIFICATO" },
  },
};

/** A mark beside the word, for readers who cannot tell the colours apart. */
const MARKS = { false: "✗", misleading: "!", true: "✓", unverified: "?" };

const base = (tag) => String(tag || "").toLowerCase().split("-")[0];

/** The first of the reader's languages the page speaks, else English. */
export function readerLanguage(languages = navigator.languages || [navigator.language]) {
  for (const tag of languages) if (WORDS[base(tag)]) return base(tag);
  return "en";
}

/** The stamp of `status` in `lang`: colour, mark and word. */
export function stamp(status, lang = "en") {
  const words = WORDS[lang] ?? WORDS.en;
  return el("span", { class: `stamp stamp-${status}`, "data-status": status },
    el("span", { class: "mark", "aria-hidden": "true", text: MARKS[status] ?? "?" }),
    el("span", { class: "word", text: words.stamps[status] ?? String(status).toUpperCase() }));
}

/** The entry's claim and fact in `lang` when it has them, else in its own language; with the tag they are in. */
export function entryIn(entry, lang) {
  if (base(entry.language) === lang) return { claim: entry.claim, fact: entry.fact, language: entry.language };
  const t = (entry.translations || []).find((t) => base(t.language) === lang);
  return t ? { claim: t.claim, fact: t.fact, language: t.language } : { claim: entry.claim, fact: entry.fact, language: entry.language };
}

/** "Updated 30 Nov 2026, 14:05" in `lang`. */
export function updatedLine(iso, lang) {
  const words = WORDS[lang] ?? WORDS.en;
  const when = new Intl.DateTimeFormat(words.locale, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
  return el("time", { datetime: iso, text: `${words.updated} ${when}` });
}

/** One entry as the public reads it: stamp and date, "Rumour: …", "Fact: …", the zones named. */
export function entryCard(entry, lang, zoneNames = new Map()) {
  const words = WORDS[lang] ?? WORDS.en;
  const text = entryIn(entry, lang);
  const where = (entry.zones || []).map((z) => zoneNames.get(z) ?? z);
  return el("article", { class: "rumour-entry", id: `rumour-${entry.id}`, "data-status": entry.status, lang: text.language },
    el("div", { class: "entry-head" }, stamp(entry.status, lang), updatedLine(entry.updated, lang)),
    el("p", { class: "claim" }, el("span", { class: "label", text: words.rumour }), el("span", { class: "text", text: text.claim })),
    el("p", { class: "fact" }, el("span", { class: "label", text: words.fact }), el("span", { class: "text", text: text.fact || words.noFact })),
    ...(where.length ? [el("p", { class: "where", text: `${words.where} ${where.join(", ")}` })] : []));
}
