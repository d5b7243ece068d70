// The CAP values the pages show (OASIS CAP 1.2) in the reader's language:
// the composer's choices, the cards' severity words, the places' messages.
// One table, so that a severity reads the same on every surface.

import { words } from "/shared/i18n.js";

// Keyed by the value itself, as the event lists it; the English value is
// always what is sent, and a value this table lacks shows as it is.
export const CAP_WORDS = {
  en: {
    Extreme: "Extreme", Severe: "Severe", Moderate: "Moderate", Minor: "Minor", Unknown: "Unknown",
    Immediate: "Immediate", Expected: "Expected", Future: "Future", Past: "Past",
    Observed: "Observed", Likely: "Likely", Possible: "Possible", Unlikely: "Unlikely",
    Safety: "Safety", Security: "Security", Rescue: "Rescue", Fire: "Fire", Health: "Health", Transport: "Transport", Other: "Other",
    // The codes Geo, Met, Env, Infra and CBRNE are not English words: an English
    // reader sees the code itself (a key a table lacks shows as itself), and no
    // check takes "Geo" in "GeoJSON" for English left on an Italian page.
  },
  it: {
    Extreme: "Estrema", Severe: "Grave", Moderate: "Moderata", Minor: "Lieve", Unknown: "Sconosciuta",
    Immediate: "Immediata", Expected: "Attesa", Future: "Futura", Past: "Passata",
    Observed: "Osservata", Likely: "Probabile", Possible: "Possibile", Unlikely: "Improbabile",
    Geo: "Rischio geologico", Met: "Rischio meteo", Safety: "Sicurezza", Security: "Ordine pubblico", Rescue: "Soccorso",
    Fire: "Incendio", Health: "Sanità", Env: "Ambiente", Transport: "Trasporti", Infra: "Reti e infrastrutture",
    CBRNE: "NBCR", Other: "Altro",
  },
};
const capWords = words(CAP_WORDS);

/** A CAP value (severity, urgency, certainty, category) as the reader reads it; the value itself is sent. */
export const capWord = (value) => (value == null ? "" : capWords(String(value)));

/** A CAP severity in the page's language (the server's value stays in the card's class). */
export const severityWord = capWord;
