//! The terms a post counts for in trends (DESIGN §10, "Trends"): the words
//! and hashtags of a text whose personal data is already masked, without the
//! stop words of the event's languages, @handles, numbers, links or the masks
//! themselves.
//!
//! Pure: the caller brings the masked text; [`Vocabulary`] only holds the
//! stop words, so one is built per event and shared by every text.

use std::collections::{BTreeSet, HashSet};

use foldhash::fast::FixedState;

/// At most this many terms per text: a 4,000-character rant should not weigh
/// more in the trends than a short post, nor cost more than a few posts.
pub const MAX_TERMS: usize = 32;

/// Words shorter than this many letters are not terms ("ok", "si", "no").
const MIN_LETTERS: usize = 3;

/// The stop words of an event's languages, and the rules that turn a text
/// into the terms trends count.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    // Only ever asked for membership, so its order never reaches a result;
    // the fixed seed keeps two nodes byte-identical anyway.
    stop: HashSet<String, FixedState>,
}

impl Vocabulary {
    /// Stop words of each language, given as BCP 47 tags whose primary
    /// subtag picks the list ("it", "en-GB", "pt_BR"); languages the
    /// `stop-words` crate does not know are ignored (their words then simply
    /// count as terms). The lists are NLTK's where NLTK has one: they hold
    /// only function words, where the Stopwords ISO lists also drop words a
    /// crisis is made of ("fire", "help", "area" in English, "gente" in
    /// Italian); Stopwords ISO covers the other languages.
    pub fn new(languages: &[&str]) -> Self {
        let mut stop = HashSet::with_hasher(FixedState::default());
        for tag in languages {
            let primary = tag
                .split(['-', '_'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if let Some(words) = stop_words::lookup(&primary) {
                stop.extend(words.iter().map(|word| normalise_apostrophes(&word.to_lowercase())));
            }
        }
        Vocabulary { stop }
    }

    /// Whether `word` (lowercase, apostrophes as `'`) is a stop word of one
    /// of the event's languages.
    pub fn is_stop_word(&self, word: &str) -> bool {
        self.stop.contains(word)
    }

    /// The distinct terms of a text whose personal data is already masked:
    /// words lowercased (Unicode, accents kept) of at least three letters
    /// and hashtags with their `#` (`#bologna` and `bologna` are different
    /// terms, and a tag is kept even when its word is a stop word: the
    /// author chose it as a topic). Never terms: stop words, @handles (and
    /// anything with an `@`), numbers and any word with a digit, links,
    /// masks such as `[phone]` or `[@handle]`, emoji and punctuation. An
    /// elided article goes with its apostrophe (`dell'Indipendenza` →
    /// `indipendenza`), and so does an English clitic (`police's` →
    /// `police`).
    ///
    /// Sorted, deduplicated, at most [`MAX_TERMS`]: hashtags first, then
    /// words, each in the order the text uses them, so a long text keeps
    /// its tags and its opening.
    pub fn terms(&self, masked_text: &str) -> Vec<String> {
        let mut tags = Vec::new();
        let mut words = Vec::new();
        for chunk in masked_text.split_whitespace() {
            if is_link(chunk) {
                continue;
            }
            scan_chunk(chunk, &mut |token| match token {
                Token::Tag(tag) => tags.push(tag),
                Token::Word(word) => self.push_word(&word, &mut words),
            });
        }
        let mut terms = BTreeSet::new();
        for term in tags.into_iter().chain(words) {
            if terms.len() == MAX_TERMS {
                break;
            }
            terms.insert(term);
        }
        terms.into_iter().collect()
    }

    /// Splits one word on its apostrophes and keeps the parts that are terms.
    fn push_word(&self, raw: &str, out: &mut Vec<String>) {
        if raw.chars().any(char::is_numeric) {
            return;
        }
        let word = normalise_apostrophes(&raw.to_lowercase());
        if self.is_stop_word(&word) {
            return;
        }
        let parts: Vec<&str> = word.split('\'').collect();
        for (i, part) in parts.iter().enumerate() {
            // Before an apostrophe sits either an elided article ("dell'",
            // "un'", "l'") or a word with an English clitic after it ("'s",
            // "'t", "'re"): clitics are at most two letters, what follows an
            // elision is a word.
            let elided = parts.get(i + 1).is_some_and(|next| next.chars().count() > 2);
            let clitic = i > 0 && part.chars().count() <= 2;
            if elided || clitic {
                continue;
            }
            if part.chars().filter(|c| c.is_alphabetic()).count() >= MIN_LETTERS && !self.is_stop_word(part) {
                out.push((*part).to_owned());
            }
        }
    }
}

/// One candidate out of a whitespace-free chunk of text.
enum Token {
    /// `#` and the tag, lowercased, already checked.
    Tag(String),
    /// A run of letters, digits, marks and inner apostrophes, as written.
    Word(String),
}

/// Apostrophes as people type them: straight, curly, modifier letter.
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}')
}

/// Combining accents (decomposed "e" + "´"): part of the word they follow.
pub(crate) fn is_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_mark(c)
}

fn normalise_apostrophes(word: &str) -> String {
    word.chars().map(|c| if is_apostrophe(c) { '\'' } else { c }).collect()
}

/// Walks a chunk and hands out its words and tags; masks, handles and
/// everything glued to an `@` are skipped whole.
fn scan_chunk(chunk: &str, emit: &mut dyn FnMut(Token)) {
    let chars: Vec<char> = chunk.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '[' {
            // A mask ("[phone]", "[@handle]") is one token: none of its
            // letters may become a term.
            if let Some(len) = chars[i..].iter().position(|&c| c == ']') {
                i += len + 1;
                continue;
            }
            i += 1;
        } else if c == '@' {
            i = skip_handle(&chars, i);
        } else if c == '#' && chars.get(i + 1).is_some_and(|&c| is_word_char(c)) {
            let end = i
                + 1
                + chars[i + 1..]
                    .iter()
                    .take_while(|&&c| is_word_char(c) || c == '_')
                    .count();
            if chars.get(end) == Some(&'@') {
                i = skip_handle(&chars, end);
                continue;
            }
            let body = &chars[i + 1..end];
            let letters = body.iter().filter(|c| c.is_alphabetic()).count();
            if letters >= MIN_LETTERS && !body.iter().any(|c| c.is_numeric()) {
                let tag: String = body.iter().collect();
                emit(Token::Tag(format!("#{}", tag.to_lowercase())));
            }
            i = end;
        } else if is_word_char(c) {
            let mut end = i;
            while end < chars.len() {
                let inner_apostrophe =
                    is_apostrophe(chars[end]) && end > i && chars.get(end + 1).is_some_and(|&c| is_word_char(c));
                if is_word_char(chars[end]) || inner_apostrophe {
                    end += 1;
                } else {
                    break;
                }
            }
            if chars.get(end) == Some(&'@') {
                // The local part of an address that escaped masking.
                i = skip_handle(&chars, end);
                continue;
            }
            emit(Token::Word(chars[i..end].iter().collect()));
            i = end;
        } else {
            i += 1;
        }
    }
}

/// The index just past a handle starting at `at` ("@comune_bo",
/// "@user@instance.social").
fn skip_handle(chars: &[char], at: usize) -> usize {
    at + chars[at..]
        .iter()
        .take_while(|&&c| is_word_char(c) || matches!(c, '@' | '_' | '.' | '-'))
        .count()
}

/// Whether a whitespace-free chunk is a link: a scheme, a `www.` host, or a
/// dotted host with a path ("bit.ly/x"). A bare domain without a path
/// ("comune.bologna.it") is not recognised: it cannot be told from two
/// sentences missing their space.
pub(crate) fn is_link(chunk: &str) -> bool {
    let chunk = chunk.trim_start_matches(|c: char| !c.is_alphanumeric());
    if chunk.contains("://") || chunk.get(..4).is_some_and(|start| start.eq_ignore_ascii_case("www.")) {
        return true;
    }
    let Some((host, _)) = chunk.split_once('/') else {
        return false;
    };
    let Some((_, tld)) = host.rsplit_once('.') else {
        return false;
    };
    tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        Vocabulary::new(&["it", "en"])
    }

    #[test]
    fn italian_and_english_stop_words_are_dropped() {
        let terms = vocabulary().terms("Il concerto della band è finito e the crowd is leaving the square");
        assert_eq!(terms, ["band", "concerto", "crowd", "finito", "leaving", "square"]);
    }

    #[test]
    fn a_language_the_crate_does_not_know_is_ignored_and_subtags_pick_the_list() {
        let only_unknown = Vocabulary::new(&["xx", ""]);
        assert_eq!(only_unknown.terms("the crowd"), ["crowd", "the"]);
        let regional = Vocabulary::new(&["en-GB", "IT_it"]);
        assert_eq!(regional.terms("the crowd della piazza"), ["crowd", "piazza"]);
    }

    #[test]
    fn crisis_words_are_not_stop_words() {
        let terms = vocabulary().terms("Fire! Help, the area near home is full of people, gente ovunque");
        for word in ["fire", "help", "area", "home", "people", "gente"] {
            assert!(terms.iter().any(|t| t == word), "{word} missing from {terms:?}");
        }
    }

    #[test]
    fn hashtags_keep_their_hash_and_differ_from_the_word() {
        let terms = vocabulary().terms("#Bologna bologna #PiazzaMaggiore #noi #g8 #ok");
        assert_eq!(terms, ["#bologna", "#noi", "#piazzamaggiore", "bologna"]);
    }

    #[test]
    fn masks_handles_numbers_and_links_are_never_terms() {
        let text = "Chiamate [phone] o scrivete a [e-mail], targa [plate] in [address]: \
                    @questura_bo lo sa, [@handle] anche; mario@rossi.it 112 3pm A14 covid19 \
                    https://example.org/path www.comune.bologna.it bit.ly/abc123 (https://t.co/x)";
        let terms = vocabulary().terms(text);
        assert_eq!(terms, ["chiamate", "scrivete", "targa"]);
    }

    #[test]
    fn elided_articles_and_clitics_go_with_their_apostrophe() {
        let terms =
            vocabulary().terms("Via dell'Indipendenza, all’ingresso un'ambulanza; the police's line, rock'n'roll");
        assert_eq!(
            terms,
            [
                "ambulanza",
                "indipendenza",
                "ingresso",
                "line",
                "police",
                "rock",
                "roll",
                "via"
            ]
        );
    }

    #[test]
    fn emoji_and_punctuation_separate_words_and_accents_are_kept() {
        let terms = vocabulary().terms("Città🔥🔥libertà...PAURA!!! e\u{301}vacuation");
        assert_eq!(terms, ["città", "e\u{301}vacuation", "libertà", "paura"]);
    }

    #[test]
    fn unicode_is_lowercased_and_short_words_dropped() {
        let terms = vocabulary().terms("ΑΘΗΝΑ ÉTÉ ok si no");
        assert_eq!(terms, ["été", "αθηνα"]);
    }

    #[test]
    fn at_most_32_terms_hashtags_first() {
        let words: Vec<String> = (0..50)
            .map(|i| format!("parola{}", char::from(b'a' + (i % 26) as u8)).repeat(1 + i / 26))
            .collect();
        let text = format!("{} #zzztag", words.join(" "));
        let terms = vocabulary().terms(&text);
        assert_eq!(terms.len(), MAX_TERMS);
        assert!(terms.contains(&"#zzztag".to_owned()));
        assert!(terms.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    }

    #[test]
    fn links_are_recognised() {
        for link in [
            "https://a.b/c",
            "(http://x.y)",
            "www.example.org",
            "WWW.EXAMPLE.ORG/x",
            "bit.ly/abc",
            "t.co/x1",
        ] {
            assert!(is_link(link), "{link}");
        }
        for not in ["km/h", "e/o", "1.5/2", "fine.Poi", "piazza"] {
            assert!(!is_link(not), "{not}");
        }
    }

    proptest::proptest! {
        #[test]
        fn terms_are_sorted_bounded_and_clean(text in "\\PC{0,300}") {
            let vocabulary = vocabulary();
            let terms = vocabulary.terms(&text);
            proptest::prop_assert!(terms.len() <= MAX_TERMS);
            proptest::prop_assert!(terms.windows(2).all(|w| w[0] < w[1]));
            for term in &terms {
                proptest::prop_assert!(!term.chars().any(|c| c.is_numeric() || c.is_whitespace() || c == '@'));
                proptest::prop_assert!(term.chars().filter(|c| c.is_alphabetic()).count() >= MIN_LETTERS);
                proptest::prop_assert!(term.starts_with('#') || !vocabulary.is_stop_word(term));
            }
        }

        #[test]
        fn a_mask_contributes_no_term(before in "[a-z ]{0,40}", after in "[a-z ]{0,40}",
                                      mask in proptest::sample::select(vec!["[phone]", "[e-mail]", "[plate]", "[address]", "[@handle]"])) {
            let vocabulary = vocabulary();
            let with = vocabulary.terms(&format!("{before}{mask}{after}"));
            let without = vocabulary.terms(&format!("{before} {after}"));
            proptest::prop_assert_eq!(with, without);
        }
    }
}
