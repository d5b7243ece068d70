//! The published entries as an Atom feed: one entry per claim, "Rumour: …"
//! then "Fact: …" with its status, newest update first, each linking the
//! public page. A rendering at the end of the flow; nothing here changes
//! state.

use std::fmt::Write;

use chrono::Utc;

use super::{StoredRumour, words};
use crate::alert::Publisher;
use crate::alert::escape;
use crate::domain::rfc3339;

/// Renders the feed of `published` (already newest first); every link
/// starts with the publisher's `base_url` (`--public-url`), never with a
/// request's `Host`, which the caller chooses.
pub fn render(published: &[StoredRumour], publisher: &Publisher) -> String {
    let base = escape(publisher.base_url.as_str());
    let updated = published.iter().map(|r| r.updated).max().unwrap_or_else(Utc::now);
    let mut out = String::with_capacity(1024 + published.len() * 800);
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    out.push_str(r#"<feed xmlns="http://www.w3.org/2005/Atom">"#);
    let _ = write!(
        out,
        r#"<id>{base}/api/v1/rumours.atom</id><title>Campanile: rumour control</title><updated>{}</updated><author><name>{}</name></author><link rel="self" type="application/atom+xml" href="{base}/api/v1/rumours.atom"/><link rel="alternate" type="text/html" href="{base}/rumours/"/>"#,
        rfc3339(updated),
        escape(&publisher.sender),
    );
    for entry in published {
        let r = &entry.rumour;
        let (rumour, fact, stamp) = words(&r.language, r.status);
        let mut content = format!("{rumour}: {}\n{fact}: ", r.claim);
        content.push_str(if r.fact.is_empty() { "…" } else { &r.fact });
        let _ = write!(
            out,
            r#"<entry><id>{base}/api/v1/rumours/{id}</id><title>{title}</title><updated>{updated}</updated><published>{created}</published><category term="{status}" label="{stamp}"/><summary>{summary}</summary><content type="text" xml:lang="{lang}">{content}</content><link rel="alternate" type="text/html" href="{base}/rumours/#rumour-{id}"/></entry>"#,
            id = escape(&entry.id),
            title = escape(&format!("{stamp} — {rumour}: {}", r.claim)),
            updated = rfc3339(entry.updated),
            created = rfc3339(entry.created),
            status = r.status.as_str(),
            summary = escape(&format!("{stamp}. {content}")),
            lang = escape(r.language.as_str()),
            content = escape(&content),
        );
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Language;
    use crate::domain::rumour::{Rumour, RumourStatus};

    #[test]
    fn text_stored_with_forbidden_characters_or_markup_still_makes_well_formed_xml() {
        let now = Utc::now();
        let entry = StoredRumour {
            id: "r1".into(),
            created: now,
            updated: now,
            version: 1,
            author: "op".into(),
            updated_by: "op".into(),
            rumour: Rumour {
                claim: "<script>alert(1)</script> \u{1B}[2J & more".into(),
                status: RumourStatus::False,
                fact: "calm\u{0}".into(),
                language: Language::parse("en").expect("en"),
                translations: vec![],
                zones: vec![],
                reports: vec![],
                broadcasts: vec![],
                trends: vec![],
                published: true,
            },
        };
        let publisher = Publisher {
            base_url: "https://example.org".into(),
            sender: "ops@example.org".into(),
            status: "Actual".into(),
        };
        let xml = render(&[entry], &publisher);
        assert!(!xml.contains('\u{1B}') && !xml.contains('\u{0}'), "{xml}");
        assert!(!xml.contains("<script>"), "{xml}");
        assert!(xml.contains("&lt;script&gt;"), "{xml}");
        assert!(xml.contains("FALSE — Rumour: "), "{xml}");
    }
}
