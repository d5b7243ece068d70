//! The active public messages as an Atom feed, one entry per message linking
//! its CAP document (the OASIS "CAP feeds" practice).

use std::fmt::Write;

use chrono::Utc;

use super::{Publisher, escape};
use crate::domain::broadcast::StoredBroadcast;
use crate::domain::rfc3339;

/// Renders the feed; every link starts with the publisher's `base_url`.
pub fn render(active_public: &[StoredBroadcast], publisher: &Publisher) -> String {
    let base = publisher.base_url.as_str();
    let updated = active_public.iter().map(|b| b.sent).max().unwrap_or_else(Utc::now);
    let mut out = String::with_capacity(1024 + active_public.len() * 600);
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    out.push_str(r#"<feed xmlns="http://www.w3.org/2005/Atom">"#);
    let _ = write!(
        out,
        r#"<id>{base}/api/v1/alerts.atom</id><title>Campanile: active safety messages</title><updated>{}</updated><author><name>{}</name></author><link rel="self" type="application/atom+xml" href="{base}/api/v1/alerts.atom"/>"#,
        rfc3339(updated),
        escape(&publisher.sender),
        base = escape(base),
    );
    for b in active_public {
        let m = &b.broadcast;
        let _ = write!(
            out,
            r#"<entry><id>{base}/api/v1/broadcasts/{id}</id><title>{title}</title><updated>{sent}</updated><published>{sent}</published><summary>{summary}</summary><category term="{severity}"/><link rel="alternate" type="application/cap+xml" href="{base}/api/v1/broadcasts/{id}/cap.xml"/></entry>"#,
            base = escape(base),
            id = escape(&b.id),
            title = escape(&m.headline),
            sent = rfc3339(b.sent),
            summary = escape(&format!(
                "{} ({}, {}): {}",
                m.event,
                m.severity.as_str(),
                m.urgency.as_str(),
                m.area.description
            )),
            severity = m.severity.as_str(),
        );
    }
    out.push_str("</feed>\n");
    out
}
