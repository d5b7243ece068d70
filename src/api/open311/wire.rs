//! GeoReport v2's two wire forms: one document tree, written as JSON or as
//! XML, so that the two forms of an answer cannot say different things.
//! XML follows the specification's examples: a root element named for the
//! resource (`services`, `service_requests`, `discovery`, `errors`) with one
//! child per item (`service`, `request`, `error`), each field an element.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Map, Value};

/// The form a client asked for by the resource's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`: `application/json`.
    Json,
    /// `.xml`: `text/xml`, the form the specification requires of every server.
    Xml,
}

impl Format {
    /// The format an extension names, if it is one of the two.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "json" => Some(Self::Json),
            "xml" => Some(Self::Xml),
            _ => None,
        }
    }

    /// The format an answer to `path` is written in when the path names
    /// none we know (an unknown route, a 429 at the door): JSON when the
    /// path ends in `.json`, otherwise XML, the form every GeoReport
    /// client reads.
    pub fn of_path(path: &str) -> Self {
        if path.ends_with(".json") { Self::Json } else { Self::Xml }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// A value of a GeoReport document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Text.
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// A decimal number (coordinates).
    Number(f64),
    /// A whole number (error codes, attribute order).
    Int(i64),
    /// A list: a JSON array, in XML one element per item named as given
    /// (`formats` holds `format` elements).
    List(&'static str, Vec<Node>),
    /// Fields: a JSON object, in XML one element per field.
    Record(Record),
}

/// Fields in the order the specification lists them.
pub type Record = Vec<(&'static str, Node)>;

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// One object (`discovery`, `service_definition`).
    One(&'static str, Record),
    /// A JSON array; in XML a root (`services`) of items (`service`).
    Many(&'static str, &'static str, Vec<Record>),
}

impl Document {
    /// The answer with `status` in `format`.
    pub fn respond(&self, status: StatusCode, format: Format) -> HttpResponse {
        let body = match format {
            Format::Json => self.to_json().to_string(),
            Format::Xml => self.to_xml(),
        };
        HttpResponse::build(status)
            .content_type(format.content_type())
            .body(body)
    }

    fn to_json(&self) -> Value {
        match self {
            Document::One(_, record) => record_json(record),
            Document::Many(_, _, records) => Value::Array(records.iter().map(record_json).collect()),
        }
    }

    fn to_xml(&self) -> String {
        let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        match self {
            Document::One(root, record) => element(&mut out, root, &Node::Record(record.clone())),
            Document::Many(root, item, records) => {
                open(&mut out, root);
                for record in records {
                    element(&mut out, item, &Node::Record(record.clone()));
                }
                close(&mut out, root);
            }
        }
        out
    }
}

fn record_json(record: &Record) -> Value {
    let mut map = Map::new();
    for (name, node) in record {
        map.insert((*name).to_owned(), node_json(node));
    }
    Value::Object(map)
}

fn node_json(node: &Node) -> Value {
    match node {
        Node::Text(t) => Value::String(t.clone()),
        Node::Bool(b) => Value::Bool(*b),
        Node::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Node::Int(i) => Value::from(*i),
        Node::List(_, items) => Value::Array(items.iter().map(node_json).collect()),
        Node::Record(r) => record_json(r),
    }
}

fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Names are the specification's own (static, plain ASCII); only text is
/// the callers', and it goes through the one escaper of every XML writer
/// of Campanile, which also drops what XML 1.0 cannot carry.
fn element(out: &mut String, name: &str, node: &Node) {
    open(out, name);
    match node {
        Node::Text(t) => out.push_str(&crate::alert::escape(t)),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Number(n) => out.push_str(&n.to_string()),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::List(item, items) => {
            for node in items {
                element(out, item, node);
            }
        }
        Node::Record(record) => {
            for (field, node) in record {
                element(out, field, node);
            }
        }
    }
    close(out, name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tree_gives_both_forms() {
        let doc = Document::Many(
            "services",
            "service",
            vec![vec![
                ("service_code", Node::Text("fire".into())),
                ("metadata", Node::Bool(false)),
                ("tags", Node::List("tag", vec![Node::Text("a<b".into())])),
            ]],
        );
        assert_eq!(
            doc.to_json().to_string(),
            r#"[{"metadata":false,"service_code":"fire","tags":["a<b"]}]"#
        );
        assert_eq!(
            doc.to_xml(),
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "<services><service><service_code>fire</service_code><metadata>false</metadata>",
                "<tags><tag>a&lt;b</tag></tags></service></services>"
            )
        );
    }

    #[test]
    fn characters_xml_cannot_carry_are_dropped_not_written() {
        let doc = Document::One("discovery", vec![("contact", Node::Text("a\u{1}b\u{1b}c".into()))]);
        assert!(doc.to_xml().ends_with("<discovery><contact>abc</contact></discovery>"));
    }
}
