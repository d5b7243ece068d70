//! Personal data in post and report texts (DESIGN §6, §10 "No manhunts"):
//! finds phone numbers, e-mail addresses, number plates, street addresses
//! with a house number and @handles in Italian and English writing, and
//! masks them. Pure code: it owns the recognition step only; the callers
//! decide what is stored, shown, revealed and counted.
//!
//! Each kind is a handful of patterns compiled once, followed by checks a
//! regular expression cannot say well (what stands right before and after a
//! number, which words cannot be a street name). Precision matters as much
//! as recall: a time, a date, a price or a crowd count taken for a phone
//! number would blank out exactly the words a crisis room reads, and a
//! square's name without a house number is a place everybody talks about,
//! not anybody's address. `tests/api/pii_masking.rs` measures both on a
//! labelled set; `docs/PRIVACY.md` gives the figures and the limits.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// A kind of personal data found in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// A phone number (Italian, British, North American and `+`-prefixed
    /// international formats).
    Phone,
    /// An e-mail address, also spelled out as "name at domain dot com".
    Email,
    /// A car number plate (Italian and British formats).
    Plate,
    /// A street address with a house number.
    Address,
    /// A social-media @handle.
    Handle,
}

impl PiiKind {
    /// The kind's name as it appears in JSON and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::Plate => "plate",
            Self::Address => "address",
            Self::Handle => "handle",
        }
    }

    /// What a masked text shows in place of data of this kind.
    pub fn mask(self) -> &'static str {
        match self {
            Self::Phone => "[phone]",
            Self::Email => "[e-mail]",
            Self::Plate => "[plate]",
            Self::Address => "[address]",
            Self::Handle => "[@handle]",
        }
    }

    const ALL: [Self; 5] = [Self::Phone, Self::Email, Self::Plate, Self::Address, Self::Handle];
}

/// Personal data found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub kind: PiiKind,
    /// Where, as a byte range into the text (always on `char` boundaries).
    pub range: Range<usize>,
}

/// A text with its personal data replaced by [`PiiKind::mask`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    /// The text as every view but the operator's reveal shows it.
    pub text: String,
    /// The kinds that were masked; empty when the text had none.
    pub kinds: BTreeSet<PiiKind>,
}

/// Whether any pattern could match: every kind needs a digit (phones,
/// plates, house numbers), an `@` (e-mails, handles) or a spelled-out
/// "dot" / "punto" (e-mails written to dodge filters). Most posts have
/// none, and skip the patterns, which cost microseconds a text.
fn may_hold_personal_data(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().any(|b| b.is_ascii_digit() || *b == b'@')
        || bytes.windows(3).any(|w| w.eq_ignore_ascii_case(b"dot"))
        || bytes.windows(5).any(|w| w.eq_ignore_ascii_case(b"punto"))
}

/// The personal data in `text`, in order, none overlapping another.
///
/// Where two readings overlap, the one that starts first wins, then the
/// longer: `+39 051 …` is one international number, not a landline with a
/// stray prefix, and `@name@server.social` is one handle, not an e-mail.
/// Masks already in the text (`[phone]`, …) are never read as data, so
/// masking twice changes nothing.
pub fn find(text: &str) -> Vec<Finding> {
    if !may_hold_personal_data(text) {
        return Vec::new();
    }
    let masks: Vec<Range<usize>> = PiiKind::ALL
        .iter()
        .flat_map(|kind| text.match_indices(kind.mask()).map(|(at, m)| at..at + m.len()))
        .collect();
    let mut candidates: Vec<Finding> = Vec::new();
    for pattern in PATTERNS.iter() {
        let mut from = 0;
        while let Some(m) = pattern.re.find_at(text, from) {
            let range = m.range();
            // Touching a mask counts as touching the data it hides: "@a@a"
            // is one handle and a stray "@a", before masking and after.
            let clear_of_masks = masks
                .iter()
                .all(|mask| mask.end < range.start || range.end < mask.start);
            if clear_of_masks && (pattern.accept)(text, range.clone()) {
                from = range.end.max(range.start + 1);
                candidates.push(Finding {
                    kind: pattern.kind,
                    range,
                });
            } else {
                // A refused match may hide a good one that starts inside it
                // ("via Rizzoli poi via Zamboni 33"): look again one
                // character further on. Every pattern's matches are bounded
                // in length, so this stays linear in the text.
                from = next_boundary(text, range.start);
            }
            if from > text.len() {
                break;
            }
        }
    }
    candidates.sort_by(|a, b| a.range.start.cmp(&b.range.start).then(b.range.end.cmp(&a.range.end)));
    let mut findings: Vec<Finding> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if findings
            .last()
            .is_none_or(|last| last.range.end <= candidate.range.start)
        {
            findings.push(candidate);
        }
    }
    findings
}

/// `text` with every finding replaced by its kind's mask.
///
/// Masking is repeated until nothing is found, so that a mask can never sit
/// next to what becomes data only once its neighbour is gone, and
/// `mask(&mask(t).text) == mask(t)`. It ends: each round replaces at least
/// one character outside the masks, and findings never include a mask.
pub fn mask(text: &str) -> Masked {
    let mut out = text.to_owned();
    let mut kinds = BTreeSet::new();
    loop {
        let findings = find(&out);
        if findings.is_empty() {
            return Masked { text: out, kinds };
        }
        let mut next = String::with_capacity(out.len());
        let mut at = 0;
        for finding in findings {
            next.push_str(&out[at..finding.range.start]);
            next.push_str(finding.kind.mask());
            kinds.insert(finding.kind);
            at = finding.range.end;
        }
        next.push_str(&out[at..]);
        out = next;
    }
}

/// Whether `text` still holds a phone number or an e-mail address: what
/// would let a reader contact, or harass, a person.
pub fn contains_contact(text: &str) -> bool {
    find(text)
        .iter()
        .any(|f| matches!(f.kind, PiiKind::Phone | PiiKind::Email))
}

/// One way of writing one kind, and the checks its matches must pass.
struct Pattern {
    kind: PiiKind,
    re: Regex,
    accept: fn(&str, Range<usize>) -> bool,
}

fn pattern(kind: PiiKind, source: &str, accept: fn(&str, Range<usize>) -> bool) -> Pattern {
    // The sources are constants of this file, and a unit test compiles all of
    // them, so a failure here is a bug found before any text is read.
    #[allow(clippy::expect_used)]
    let re = Regex::new(source).expect("the personal-data patterns are valid regular expressions");
    Pattern { kind, re, accept }
}

/// Separators people put between the digit groups of a phone number.
const SEP: &str = r"[ .\-]?";

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    use PiiKind::*;
    vec![
        // +39 333 123 4567, +44 (0)20 7946 0958, 0039 051 123456, +1 555 123 4567
        pattern(
            Phone,
            &format!(r"(?:\+|\b00)[0-9]{{1,3}}(?:{SEP}\(0\))?(?:{SEP}\(?[0-9]{{1,5}}\)?){{1,6}}"),
            |t, r| standalone_number(t, r.clone()) && (9..=15).contains(&phone_digits(&t[r])),
        ),
        // (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, 555-0142
        pattern(
            Phone,
            r"\([0-9]{3}\) ?[0-9]{3}[ .\-][0-9]{4}\b|\b[0-9]{3}-[0-9]{3}-[0-9]{4}\b|\b[0-9]{3}\.[0-9]{3}\.[0-9]{4}\b|\b[0-9]{3} [0-9]{3} [0-9]{4}\b|\b555[.\-][0-9]{4}\b",
            standalone_number,
        ),
        // Italian mobiles: 333 123 4567, 3331234567, 333-1234567, 333.123.45.67
        pattern(
            Phone,
            &format!(r"\b3[0-9]{{2}}(?:{SEP}[0-9]){{7}}\b"),
            standalone_number,
        ),
        // Italian toll-free and shared-cost numbers: 800 123 456, 803.555.111
        pattern(Phone, r"\b80[03][ .]?[0-9]{3}[ .]?[0-9]{3}\b", standalone_number),
        // Numbers that start with the trunk 0: Italian landlines (051 123456,
        // 02 1234 5678, 051/22.33.44) and British numbers (07700 900123,
        // 020 7946 0958); 6 to 11 digits.
        pattern(
            Phone,
            r"\b0[0-9](?:[ .\-/]?[0-9]){4,9}\b|\(0[0-9]{1,4}\) ?[0-9](?:[ .\-]?[0-9]){4,8}\b",
            |t, r| standalone_number(t, r.clone()) && !DATE_OR_TIME.is_match(&t[r]),
        ),
        pattern(
            Email,
            r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,6}\.[A-Za-z]{2,24}\b",
            |t, r| !after_hash(t, r.start),
        ),
        // Spelled out to dodge filters: "mario at example dot com",
        // "mario[at]example[dot]org", "mario chiocciola example punto it".
        // Both the "at" and a known top-level domain after a "dot" are
        // required, which everyday sentences with "at" never have.
        pattern(
            Email,
            r"(?i)\b[a-z0-9._%+\-]{1,64}(?: ?[\[({](?:at|chiocciola)[\])}] ?| (?:at|chiocciola) )[a-z0-9\-]{1,63}(?:(?: ?[\[({](?:dot|punto)[\])}] ?| (?:dot|punto) |\.)[a-z0-9\-]{1,63}){0,4}(?: ?[\[({](?:dot|punto)[\])}] ?| (?:dot|punto) )(?:com|org|net|it|uk|eu|info|io|edu|gov|co|de|fr|es)\b",
            |t, r| !after_hash(t, r.start),
        ),
        // Italian plates: AB 123 CD (no I, O, Q, U); British: AB12 CDE.
        pattern(
            Plate,
            r"\b[A-HJ-NPR-Z]{2}[ \-]?[0-9]{3}[ \-]?[A-HJ-NPR-Z]{2}\b|\b[A-HJ-PR-Y]{2}[0-9]{2} ?[A-HJ-PR-Z]{3}\b",
            |t, r| !after_hash(t, r.start),
        ),
        // Via Rizzoli 12, via dell'Indipendenza, 5, Piazza Maggiore 6,
        // Corso Italia n. 3, Vicolo Bolognetti 2/A
        pattern(Address, ITALIAN_STREET, accept_italian_address),
        // civico 10 di via Castiglione, numero 4 in Piazza Aldrovandi
        pattern(
            Address,
            r"\b(?i:civico|numero|n\.) ?[0-9]{1,3}(?:/[A-Za-z])? (?i:di|in) (?i:via|viale|piazza|piazzetta|corso|vicolo|largo|strada) {1,3}(?:(?:d[aeiu]l?l?[aeio]?|d'|dell'|san|santo|santa) ?)?\p{Lu}[\p{L}'’]{0,30}(?: \p{Lu}[\p{L}'’]{0,30}){0,3}",
            |t, r| !after_hash(t, r.start),
        ),
        // number 10 on Tavistock Place
        pattern(
            Address,
            r"\b[Nn]umber [0-9]{1,3}[A-Z]? (?:on|in) (?:\p{Lu}[\p{L}'’\-]{0,30} ){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Square|Sq|Place|Pl|Terrace|Gardens|Crescent|Close|Way|Row|Drive|Dr|Court|Ct|Hill|Walk|Mews|Embankment|Parade|Grove|Yard|Circus)\b",
            |t, r| !after_hash(t, r.start),
        ),
        // 12 Baker Street, 221B Baker St, 10 Downing St.
        pattern(
            Address,
            r"\b[0-9]{1,3}[A-Z]?,? (?:\p{Lu}[\p{L}'’\-]{0,30} ){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Square|Sq|Place|Pl|Terrace|Gardens|Crescent|Close|Way|Row|Drive|Dr|Court|Ct|Hill|Walk|Mews|Embankment|Parade|Grove|Yard|Circus)\b",
            accept_english_address,
        ),
        // @name, @name@server.social
        pattern(
            Handle,
            r"@[\p{L}_][\p{L}0-9_]{0,29}(?:\.[\p{L}0-9_]{1,30}){0,3}(?:@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,4})?",
            |t, r| match prev_char(t, r.start) {
                None => true,
                Some(c) => !(c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '#' | '+' | '-')),
            },
        ),
    ]
});

/// An Italian street or square with a house number: the type word, then a
/// name of up to five words, then the number.
const ITALIAN_STREET: &str = r"(?i:\b(?:via|viale|v\.le|piazza|p\.zza|p\.za|piazzale|piazzetta|corso|c\.so|vicolo|largo|strada|borgo|galleria|lungotevere|contrada|salita|vico)) {1,3}(?:[\p{L}'’.]{1,30}(?: {1,3}[\p{L}'’.]{1,30}){0,4}) {0,3},? {0,3}(?i:(?:n\.?|nr\.?|n°|civico) ?)?[0-9]{1,3}(?: ?/ ?[A-Za-z]\b| ?bis\b|[A-Z]\b|\b)";

/// A match of a phone pattern that is really a date (05.11.2026, 05/11/26)
/// or a time range (09.30-10.30).
static DATE_OR_TIME: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^[0-9]{1,2}[./\-][0-9]{1,2}[./\-][0-9]{2,4}$|^[0-9]{1,2}[.:][0-9]{2}[\-/][0-9]{1,2}[.:][0-9]{2}$")
        .expect("the date pattern is a valid regular expression")
});

fn next_boundary(text: &str, at: usize) -> usize {
    text[at..].chars().next().map_or(text.len() + 1, |c| at + c.len_utf8())
}

fn prev_char(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn after_hash(text: &str, at: usize) -> bool {
    prev_char(text, at) == Some('#')
}

/// Digits of a phone number, without a British `(0)` that is not dialled.
fn phone_digits(number: &str) -> usize {
    number.replace("(0)", "").bytes().filter(u8::is_ascii_digit).count()
}

/// Whether a digit run stands on its own: not part of a word, a hashtag, a
/// URL, a handle, an amount, a decimal or a time (`21:30`, `1.500,00`,
/// `€ 3331234567`), and not followed by a unit that makes it a quantity.
fn standalone_number(text: &str, range: Range<usize>) -> bool {
    let before = text[..range.start].chars().rev();
    let mut before = before.peekable();
    match before.next() {
        None => {}
        Some(c) if c.is_alphanumeric() || matches!(c, '_' | '/' | '#' | '@' | '+' | '=' | '&' | '?' | '%') => {
            return false;
        }
        Some(c) if is_currency(c) => return false,
        Some('.' | ',' | ':' | '-') if before.peek().is_some_and(char::is_ascii_digit) => return false,
        Some(' ') if before.peek().copied().is_some_and(is_currency) => return false,
        Some(_) => {}
    }
    let mut after = text[range.end..].chars();
    match after.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || matches!(c, '_' | '%' | '/' | '°') || is_currency(c) => false,
        Some('.' | ',' | ':' | '-') => !after.next().is_some_and(|c| c.is_ascii_digit()),
        Some(_) => true,
    }
}

fn is_currency(c: char) -> bool {
    matches!(c, '€' | '$' | '£')
}

/// Words that end a street name's run before a number that is no house
/// number: "piazza alle 21", "via dopo 20 minuti", "via per 3 ore".
const NOT_A_STREET_NAME: &[&str] = &[
    "a", "ad", "ai", "al", "alla", "alle", "agli", "allo", "dal", "dalla", "dalle", "dai", "dagli", "dallo", "nel",
    "nella", "nelle", "nei", "negli", "sul", "sulla", "sulle", "sui", "e", "ed", "o", "in", "con", "per", "tra", "fra",
    "su", "verso", "dopo", "prima", "circa", "almeno", "oltre", "ore", "è", "era", "sono", "siamo", "c'è", "c'era",
    "c'erano", "ci", "si", "ma", "chiuso", "chiusa", "bloccato", "bloccata", "che", "non", "già", "ancora", "anche",
    "piena", "pieno", "gente", "persone", "minuti", "tipo", "forse", "the", "at", "to", "and", "or", "for", "with",
    "by", "on", "from", "about", "after", "before", "around",
];

/// What may follow a number that is a count, a time or a date rather than a
/// house number: "Piazza Maggiore 5000 persone", "Piazza Maggiore 21 luglio".
const NOT_AFTER_A_HOUSE_NUMBER: &[&str] = &[
    "persone",
    "people",
    "person",
    "minuti",
    "minutes",
    "min",
    "mins",
    "ore",
    "h",
    "hours",
    "hrs",
    "secondi",
    "seconds",
    "anni",
    "years",
    "km",
    "m",
    "metri",
    "metres",
    "meters",
    "mila",
    "k",
    "euro",
    "eur",
    "pm",
    "am",
    "volte",
    "times",
    "agenti",
    "poliziotti",
    "police",
    "officers",
    "giorni",
    "days",
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "percento",
    "percent",
    "%",
    "feriti",
    "fermati",
    "arrestati",
    "morti",
    "injured",
    "arrested",
    "dead",
];

fn accept_italian_address(text: &str, range: Range<usize>) -> bool {
    if after_hash(text, range.start) || !number_is_a_house_number(text, range.end) {
        return false;
    }
    // The street's name: the words between the type word ("via") and the
    // number, read by hand because a capturing search costs far more.
    let mut words = text[range]
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .skip(1)
        .map(|w| w.trim_end_matches('.').to_lowercase())
        .filter(|w| {
            !w.chars().any(|c| c.is_ascii_digit()) && !matches!(w.as_str(), "n" | "nr" | "n°" | "civico" | "bis" | "/")
        });
    words.all(|w| !NOT_A_STREET_NAME.contains(&w.as_str()))
}

fn accept_english_address(text: &str, range: Range<usize>) -> bool {
    let before = text[..range.start].chars().rev().collect::<Vec<_>>();
    match before.as_slice() {
        [c, ..] if c.is_alphanumeric() || matches!(c, '#' | '@' | '/' | '_') || is_currency(*c) => return false,
        ['.' | ',' | ':' | '-', d, ..] if d.is_ascii_digit() => return false,
        _ => {}
    }
    // "Street" words that start a sentence's next word are rare, but a
    // capitalised first word that is a function word means a sentence.
    let words = &text[range.clone()];
    !words
        .split(' ')
        .skip(1)
        .any(|w| matches!(w, "The" | "At" | "To" | "And" | "In" | "On" | "From" | "Of"))
}

/// Whether what follows the number at `end` leaves it a house number: not a
/// time (`21:30`, `21.30`), not a decimal or thousands group, not a unit.
fn number_is_a_house_number(text: &str, end: usize) -> bool {
    let rest = &text[end..];
    let mut chars = rest.chars();
    match chars.next() {
        Some('.' | ',' | ':') if chars.next().is_some_and(|c| c.is_ascii_digit()) => return false,
        Some('%' | '°' | '€' | '$' | '£') => return false,
        _ => {}
    }
    // "piazza c'erano 20 000 persone": a group of three digits after a space
    // is the rest of a large number written with a space between thousands.
    let bytes = rest.as_bytes();
    if bytes.len() >= 4
        && bytes[0] == b' '
        && bytes[1..4].iter().all(u8::is_ascii_digit)
        && !bytes.get(4).is_some_and(u8::is_ascii_digit)
    {
        return false;
    }
    let next_word: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '%')
        .collect::<String>()
        .to_lowercase();
    !NOT_AFTER_A_HOUSE_NUMBER.contains(&next_word.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds_and_spans(text: &str) -> Vec<(PiiKind, &str)> {
        find(text).into_iter().map(|f| (f.kind, &text[f.range])).collect()
    }

    #[test]
    fn every_pattern_compiles() {
        assert!(PATTERNS.len() >= 5);
        assert!(DATE_OR_TIME.is_match("05.11.2026"));
    }

    #[test]
    fn finds_each_kind_with_its_exact_span() {
        let text =
            "Chiamate il 333 123 4567 o scrivete a mario.rossi@example.com, auto AB 123 CD in Via Rizzoli 12, @mario_b";
        assert_eq!(
            kinds_and_spans(text),
            vec![
                (PiiKind::Phone, "333 123 4567"),
                (PiiKind::Email, "mario.rossi@example.com"),
                (PiiKind::Plate, "AB 123 CD"),
                (PiiKind::Address, "Via Rizzoli 12"),
                (PiiKind::Handle, "@mario_b"),
            ]
        );
    }

    #[test]
    fn times_dates_prices_counts_and_hashtags_are_not_phones() {
        for text in [
            "Appuntamento alle 21:30 in Piazza Maggiore",
            "Corteo il 05.11.2026 dalle 09.30-10.30",
            "Biglietti a € 35,00, 5000 persone, 10k people, 45% in più, dal 2019",
            "Siamo 300 000 in piazza #3331234567 https://example.org/3331234567",
            "Crowd of 25,000 people at 7.30pm on 12/11/2026",
        ] {
            assert!(find(text).is_empty(), "{text:?} gave {:?}", kinds_and_spans(text));
        }
    }

    #[test]
    fn a_street_without_a_house_number_is_not_an_address() {
        for text in [
            "Piazza Maggiore piena, via Rizzoli bloccata",
            "Ci vediamo in piazza alle 21",
            "Siamo andati via dopo 20 minuti",
            "Piazza Maggiore 5000 persone",
            "Trafalgar Square is packed, Whitehall closed",
        ] {
            assert!(find(text).is_empty(), "{text:?} gave {:?}", kinds_and_spans(text));
        }
    }

    #[test]
    fn an_email_is_not_read_as_a_handle_but_a_fediverse_handle_is_one_handle() {
        assert_eq!(
            kinds_and_spans("a@example.org"),
            vec![(PiiKind::Email, "a@example.org")]
        );
        assert_eq!(
            kinds_and_spans("da @anna@example.social"),
            vec![(PiiKind::Handle, "@anna@example.social")]
        );
    }

    #[test]
    fn masking_replaces_and_reports_the_kinds() {
        let masked = mask("Scrivete a info@example.org o al 051 123456");
        assert_eq!(masked.text, "Scrivete a [e-mail] o al [phone]");
        assert_eq!(masked.kinds, BTreeSet::from([PiiKind::Phone, PiiKind::Email]));
        let clean = mask("Piazza Maggiore piena");
        assert_eq!(clean.text, "Piazza Maggiore piena");
        assert!(clean.kinds.is_empty());
    }

    #[test]
    fn a_chain_of_near_misses_does_not_cascade_through_the_masking_rounds() {
        // Each "@a" but the first follows a letter, so it is no handle; once
        // the first is masked, the next must not become one, or masking
        // would take one round per "@a".
        let text = "@a".repeat(2000);
        let masked = mask(&text);
        assert_eq!(masked.text, format!("[@handle]{}", "@a".repeat(1999)));
        assert!(find(&masked.text).is_empty());
    }

    #[test]
    fn the_masks_themselves_are_not_data() {
        let masks = "[phone] [e-mail] [plate] [address] [@handle]";
        assert!(find(masks).is_empty());
    }

    #[test]
    fn as_str_is_the_serialised_name() {
        for kind in PiiKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::from(kind.as_str()))
            );
        }
    }

    /// Text made of the pieces personal data is made of, so that the
    /// properties meet digits next to masks, `@` next to words, and so on.
    fn piecewise_text() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "3",
            "0",
            "5",
            "12",
            "555",
            "333 123 4567",
            " ",
            ".",
            "-",
            "/",
            ":",
            "@",
            "#",
            "+39",
            "(0)",
            "(",
            ")",
            "a",
            "AB",
            "CD",
            "Via ",
            "via ",
            "Piazza ",
            "Street",
            "St",
            " at ",
            " dot ",
            "com",
            "example",
            ".org",
            ",",
            "[phone]",
            "[@handle]",
            "[e-mail]",
            "è",
            "€",
            "\n",
            "Rizzoli ",
            "Baker ",
            "bis",
            "k",
        ]);
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn masking_arbitrary_text_never_panics_and_is_idempotent(text in any::<String>()) {
            let once = mask(&text);
            prop_assert_eq!(mask(&once.text).text, once.text.clone());
            prop_assert!(!contains_contact(&once.text));
        }

        #[test]
        fn masking_text_made_of_data_pieces_is_idempotent_and_leaves_no_contact(text in piecewise_text()) {
            let once = mask(&text);
            let twice = mask(&once.text);
            prop_assert_eq!(&twice.text, &once.text);
            prop_assert!(twice.kinds.is_empty());
            prop_assert!(!contains_contact(&once.text));
        }

        #[test]
        fn findings_are_sorted_disjoint_and_on_char_boundaries(text in piecewise_text()) {
            let findings = find(&text);
            for pair in findings.windows(2) {
                prop_assert!(pair[0].range.end <= pair[1].range.start);
            }
            for f in &findings {
                prop_assert!(text.is_char_boundary(f.range.start) && text.is_char_boundary(f.range.end));
                prop_assert!(f.range.start < f.range.end);
            }
        }
    }
}
