// What the public rumour page and the operators' register share: the words
// of each language the page speaks, the status stamp (word, colour and
// mark together) and an entry's text in the reader's language.

import { el } from "/shared/dom.js";
import { words, language, locale, primaryTag } from "/shared/i18n.js";

/** The page's own words (i18n.js: the page's language, English the fallback). */
export const t = words({
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
    false: "FALSE", misleading: "MISLEADING", true: "TRUE", unverified: "UNVERIFIED",
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
    false: "FALSO", misleading: "FUORVIANTE", true: "VERO", unverified: "NON VERIFICATO",
  },
});

const STATUSES = ["false", "misleading", "true", "unverified"];

/** A mark beside the word, for readers who cannot tell the colours apart. */
const MARKS = { false: "✗", misleading: "!", true: "✓", unverified: "?" };


/** The stamp of `status` in the page's language: colour, mark and word. */
export function stamp(status) {
  return el("span", { class: `stamp stamp-${status}`, "data-status": status, lang: language() },
    el("span", { class: "mark", "aria-hidden": "true", text: MARKS[status] ?? "?" }),
    el("span", { class: "word", text: STATUSES.includes(status) ? t(status) : String(status).toUpperCase() }));
}

/** The entry's claim and fact in `lang` when it has them, else in its own language; with the tag they are in. */
export function entryIn(entry, lang = language()) {
  if (primaryTag(entry.language) === lang) return { claim: entry.claim, fact: entry.fact, language: entry.language };
  const t = (entry.translations || []).find((t) => primaryTag(t.language) === lang);
  return t ? { claim: t.claim, fact: t.fact, language: t.language } : { claim: entry.claim, fact: entry.fact, language: entry.language };
}

/** "Updated 30 Nov 2026, 14:05" in the page's language and locale. */
export function updatedLine(iso) {
  const when = new Intl.DateTimeFormat(locale(), { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso));
  return el("time", { datetime: iso, lang: language(), text: `${t("updated")} ${when}` });
}

/**
 * One entry as the public reads it: stamp and date, "Rumour: …", "Fact: …",
 * the zones named. The entry's text is in `lang` when it has a translation
 * (marked with the language it is in); the page's words in the page's.
 */
export function entryCard(entry, lang = language(), zoneNames = new Map()) {
  const text = entryIn(entry, lang);
  const ours = { lang: language() };
  const where = (entry.zones || []).map((z) => zoneNames.get(z) ?? z);
  return el("article", { class: "rumour-entry", id: `rumour-${entry.id}`, "data-status": entry.status, lang: text.language },
    el("div", { class: "entry-head" }, stamp(entry.status), updatedLine(entry.updated)),
    el("p", { class: "claim" }, el("span", { ...ours, class: "label", text: t("rumour") }), el("span", { class: "text", text: text.claim })),
    el("p", { class: "fact" }, el("span", { ...ours, class: "label", text: t("fact") }),
      text.fact ? el("span", { class: "text", text: text.fact }) : el("span", { ...ours, class: "text", text: t("noFact") })),
    ...(where.length ? [el("p", { class: "where" }, el("span", { ...ours, text: t("where") }), ` ${where.join(", ")}`)] : []));
}
