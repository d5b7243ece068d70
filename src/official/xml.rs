//! A bounded XML reader for documents fetched from strangers: turns bytes
//! into a small element tree, or refuses them. Owns the "is this XML we are
//! willing to look at" step, before any schema is checked.
//!
//! A document type declaration is refused outright: CAP and Atom need none,
//! and it is where entity expansion (billion laughs) and external entities
//! live. Only the five predefined entities and character references are
//! read; any other `&name;` is an error. Depth, element count and text size
//! are capped so that a well-formed but enormous tree costs little.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// The deepest nesting looked at; CAP is five levels deep.
const MAX_DEPTH: usize = 32;
/// The most elements in one document: an index of 10,000 entries of a
/// dozen elements each fits; a flood of empty elements does not.
const MAX_ELEMENTS: usize = 200_000;

/// One element: its namespace, local name, text and children in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The namespace URI, empty when there is none.
    pub ns: String,
    /// The local name.
    pub name: String,
    /// The text directly inside, with entities resolved.
    pub text: String,
    /// `(local name, value)` of attributes without a namespace.
    pub attributes: Vec<(String, String)>,
    /// Child elements, in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name` in namespace `ns`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.ns == ns && c.name == name)
    }

    /// An attribute's value.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why bytes are not an XML document we read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// A `<!DOCTYPE …>`: refused whatever it holds.
    #[error("a document type declaration is not accepted (entity expansion and external entities)")]
    DocType,
    /// `&name;` other than the five XML predefines.
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    /// Too deep or too many elements.
    #[error("{0}")]
    TooBig(&'static str),
    /// Not well-formed.
    #[error("not well-formed XML: {0}")]
    Malformed(String),
    /// No root element.
    #[error("no root element")]
    Empty,
}

/// Reads `bytes` (UTF-8) into its root element.
pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|e| XmlError::Malformed(format!("not UTF-8: {e}")))?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().expand_empty_elements = true;
    let malformed = |e: &dyn std::fmt::Display| XmlError::Malformed(e.to_string());
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| malformed(&e))?;
        let ns = match ns {
            ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(p) => {
                return Err(XmlError::Malformed(format!(
                    "undeclared namespace prefix {:?}",
                    String::from_utf8_lossy(&p)
                )));
            }
        };
        match event {
            Event::DocType(_) => return Err(XmlError::DocType),
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::Malformed("content after the root element".into()));
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(XmlError::TooBig("too many elements"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooBig("elements nested too deep"));
                }
                let mut attributes = Vec::new();
                for attribute in start.attributes() {
                    let attribute = attribute.map_err(|e| malformed(&e))?;
                    let key = attribute.key;
                    if key.prefix().is_some() || key.as_ref().starts_with(b"xmlns") {
                        continue;
                    }
                    let value = attribute
                        .decode_and_unescape_value(reader.decoder())
                        .map_err(|e| malformed(&e))?;
                    attributes.push((
                        String::from_utf8_lossy(key.local_name().as_ref()).into_owned(),
                        value.into_owned(),
                    ));
                }
                stack.push(Element {
                    ns,
                    name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
                    text: String::new(),
                    attributes,
                    children: Vec::new(),
                });
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let t = t.xml_content().map_err(|e| malformed(&e))?;
                push_text(&mut stack, &t)?;
            }
            Event::CData(c) => {
                let c = c.decode().map_err(|e| malformed(&e))?;
                push_text(&mut stack, &c)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| malformed(&e))? {
                    // XML 1.0's Legal Char constraint, which the reader leaves to us.
                    Some(c) if !crate::domain::text::is_xml_char(c) => {
                        return Err(XmlError::Malformed(format!(
                            "character reference to U+{:04X}, which XML does not allow",
                            u32::from(c)
                        )));
                    }
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| malformed(&e))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError::UnknownEntity(name.chars().take(64).collect()))?
                            .to_owned()
                    }
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::Empty(_) => return Err(XmlError::Malformed("unexpected empty element".into())),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("the document ends inside an element".into()));
    }
    root.ok_or(XmlError::Empty)
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed("text outside the root element".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespaces_text_and_entities() {
        let root = parse(br#"<?xml version="1.0"?><a xmlns="urn:x" k="v"><b>x &amp; y &#65;<![CDATA[<z>]]></b></a>"#)
            .expect("parses");
        assert_eq!(root.ns, "urn:x");
        assert_eq!(root.attribute("k"), Some("v"));
        assert_eq!(root.children[0].text, "x & y A<z>");
    }

    #[test]
    fn refuses_doctype_unknown_entities_and_broken_documents() {
        let laughs =
            br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert_eq!(parse(laughs), Err(XmlError::DocType));
        let external = br#"<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>"#;
        assert_eq!(parse(external), Err(XmlError::DocType));
        assert!(matches!(parse(b"<a>&xxe;</a>"), Err(XmlError::UnknownEntity(_))));
        assert!(matches!(parse(b"<a>bell &#7; here</a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<a>&#xFFFE;</a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<a></a><b></b>"), Err(XmlError::Malformed(_))));
        assert!(matches!(
            parse(b"{\"json\": true}"),
            Err(XmlError::Malformed(_) | XmlError::Empty)
        ));
        assert!(matches!(parse(b"<p:a></p:a>"), Err(XmlError::Malformed(_))));
        assert_eq!(parse(b""), Err(XmlError::Empty));
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(
            parse(deep.as_bytes()),
            Err(XmlError::TooBig("elements nested too deep"))
        );
    }
}
