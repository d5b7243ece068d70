//! What a fetched feed answer holds: owns the step from a parsed XML root
//! to the CAP documents it names. An Atom feed or an RSS channel lists
//! documents by link (or, in Atom, carries them inline in `content`); a
//! CAP `alert` is a document of its own.

use url::Url;

use super::cap_in::CAP_12;
use super::xml::Element;

const ATOM: &str = "http://www.w3.org/2005/Atom";

/// One document a feed names.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    /// A document to fetch.
    Link(Url),
    /// A document carried inline.
    Inline(Box<Element>),
}

/// What a feed's answer is.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An index of documents, in its order.
    Index(Vec<Listed>),
    /// A single CAP document.
    Document(Box<Element>),
}

/// Why an answer is neither an index nor a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IndexError(pub String);

/// Reads a parsed answer fetched from `base` (relative links are resolved
/// against it). Links that are not http(s) are skipped: a feed may not send
/// the poller to `file:` or anything else.
pub fn read(root: Element, base: &Url) -> Result<(Answer, usize), IndexError> {
    let mut skipped = 0;
    let mut link = |href: &str| -> Option<Listed> {
        match base.join(href.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(Listed::Link(u)),
            _ => {
                skipped += 1;
                None
            }
        }
    };
    let listed = match (root.ns.as_str(), root.name.as_str()) {
        (_, "alert") if root.ns.starts_with("urn:oasis:names:tc:emergency:cap:") => {
            return Ok((Answer::Document(Box::new(root)), 0));
        }
        (ATOM, "feed") => root
            .children
            .iter()
            .filter(|e| e.ns == ATOM && e.name == "entry")
            .filter_map(|entry| {
                let inline = entry
                    .child(ATOM, "content")
                    .and_then(|c| c.children.iter().find(|x| x.ns == CAP_12 && x.name == "alert"));
                if let Some(alert) = inline {
                    return Some(Listed::Inline(Box::new(alert.clone())));
                }
                let links: Vec<&Element> = entry
                    .children
                    .iter()
                    .filter(|e| e.ns == ATOM && e.name == "link")
                    .collect();
                let cap = links
                    .iter()
                    .find(|l| l.attribute("type").is_some_and(|t| t.contains("cap+xml")))
                    .or_else(|| {
                        links
                            .iter()
                            .find(|l| l.attribute("rel").is_none_or(|r| r == "alternate"))
                    });
                cap.and_then(|l| l.attribute("href")).and_then(&mut link)
            })
            .collect(),
        ("", "rss") => root
            .child("", "channel")
            .map(|channel| {
                channel
                    .children
                    .iter()
                    .filter(|e| e.ns.is_empty() && e.name == "item")
                    .filter_map(|item| {
                        let enclosure = item
                            .child("", "enclosure")
                            .filter(|e| e.attribute("type").is_some_and(|t| t.contains("xml")))
                            .and_then(|e| e.attribute("url"));
                        let href = enclosure.or_else(|| item.child("", "link").map(|l| l.text.as_str()))?;
                        link(href)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => {
            return Err(IndexError(format!(
                "the answer is <{}> in {:?}: neither an Atom feed, an RSS channel nor a CAP alert",
                root.name.chars().take(64).collect::<String>(),
                root.ns.chars().take(128).collect::<String>()
            )));
        }
    };
    Ok((Answer::Index(listed), skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::official::xml::parse;

    fn base() -> Url {
        Url::parse("http://feeds.example/cap/index.atom").expect("url")
    }

    #[test]
    fn atom_links_inline_documents_and_unsafe_schemes() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom">
          <entry><link rel="alternate" type="text/html" href="page.html"/><link rel="related" type="application/cap+xml" href="a.xml"/></entry>
          <entry><link href="/b.xml"/></entry>
          <entry><link href="file:///etc/passwd"/></entry>
          <entry><content type="text/xml"><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/></content></entry>
        </feed>"#;
        let (answer, skipped) = read(parse(atom).expect("xml"), &base()).expect("index");
        let Answer::Index(listed) = answer else {
            panic!("an index")
        };
        assert_eq!(skipped, 1);
        assert_eq!(listed.len(), 3);
        assert_eq!(
            listed[0],
            Listed::Link(Url::parse("http://feeds.example/cap/a.xml").expect("url"))
        );
        assert_eq!(
            listed[1],
            Listed::Link(Url::parse("http://feeds.example/b.xml").expect("url"))
        );
        assert!(matches!(listed[2], Listed::Inline(_)));
    }

    #[test]
    fn rss_and_single_documents_and_others() {
        let rss = br#"<rss version="2.0"><channel><item><link>http://x.example/1.xml</link></item>
            <item><enclosure url="2.xml" type="application/cap+xml"/></item></channel></rss>"#;
        let (answer, _) = read(parse(rss).expect("xml"), &base()).expect("rss");
        assert_eq!(
            answer,
            Answer::Index(vec![
                Listed::Link(Url::parse("http://x.example/1.xml").expect("url")),
                Listed::Link(Url::parse("http://feeds.example/cap/2.xml").expect("url")),
            ])
        );
        let single = br#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"#;
        assert!(matches!(
            read(parse(single).expect("xml"), &base()),
            Ok((Answer::Document(_), 0))
        ));
        assert!(read(parse(b"<html><body/></html>").expect("xml"), &base()).is_err());
    }
}
