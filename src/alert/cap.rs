//! A stored broadcast as an OASIS CAP 1.2 document.

use std::fmt::Write;

use super::{Publisher, cap_time, escape};
use crate::domain::broadcast::{AudienceKind, StoredBroadcast};
use crate::domain::{ZoneShape, Zones};

fn element(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(value));
}

fn cap_polygon(ring: &[[f64; 2]]) -> String {
    ring.iter()
        .map(|[lon, lat]| format!("{lat},{lon}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders `b`; `referenced` is the message an Update or Cancel supersedes.
pub fn render(
    b: &StoredBroadcast,
    referenced: Option<&StoredBroadcast>,
    zones: &Zones,
    publisher: &Publisher,
) -> String {
    let m = &b.broadcast;
    // Where people read more: the page that shows this audience's messages.
    let web = match m.audience {
        AudienceKind::Public => format!("{}/", publisher.base_url),
        AudienceKind::Responders => format!("{}/field/", publisher.base_url),
    };
    let mut out = String::with_capacity(2048);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str(r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">"#);
    element(&mut out, "identifier", &b.id);
    element(&mut out, "sender", &publisher.sender);
    element(&mut out, "sent", &cap_time(b.sent));
    element(&mut out, "status", &publisher.status);
    element(&mut out, "msgType", m.msg_type.as_str());
    match m.audience {
        AudienceKind::Public => element(&mut out, "scope", "Public"),
        AudienceKind::Responders => {
            element(&mut out, "scope", "Restricted");
            element(&mut out, "restriction", "Emergency responders of this event only");
        }
    }
    if let Some(r) = referenced {
        element(
            &mut out,
            "references",
            &format!("{},{},{}", publisher.sender, r.id, cap_time(r.sent)),
        );
    }
    let mut infos = vec![(
        m.language.as_str(),
        m.headline.as_str(),
        m.description.as_deref(),
        m.instruction.as_deref(),
    )];
    infos.extend(m.translations.iter().map(|t| {
        (
            t.language.as_str(),
            t.headline.as_str(),
            t.description.as_deref(),
            t.instruction.as_deref(),
        )
    }));
    for (language, headline, description, instruction) in infos {
        out.push_str("<info>");
        element(&mut out, "language", language);
        element(&mut out, "category", m.category.as_str());
        element(&mut out, "event", &m.event);
        element(&mut out, "urgency", m.urgency.as_str());
        element(&mut out, "severity", m.severity.as_str());
        element(&mut out, "certainty", m.certainty.as_str());
        element(&mut out, "expires", &cap_time(m.expires));
        element(&mut out, "senderName", "Campanile");
        element(&mut out, "headline", headline);
        if let Some(d) = description {
            element(&mut out, "description", d);
        }
        if let Some(i) = instruction {
            element(&mut out, "instruction", i);
        }
        element(&mut out, "web", &web);
        out.push_str("<area>");
        element(&mut out, "areaDesc", &m.area.description);
        let mut polygons: Vec<String> = m.area.polygons.iter().map(|r| cap_polygon(r)).collect();
        let mut circles: Vec<String> = m
            .area
            .circles
            .iter()
            .map(|c| format!("{},{} {}", c.centre.lat(), c.centre.lon(), c.radius_m / 1000.0))
            .collect();
        for zone in &m.area.zones {
            match zones.shape(zone) {
                Some(ZoneShape::Polygons(rings)) => polygons.extend(rings.iter().map(|r| cap_polygon(r))),
                Some(ZoneShape::Point([lon, lat])) => {
                    circles.push(format!("{lat},{lon} {}", Zones::point_radius_m() / 1000.0));
                }
                None => {}
            }
        }
        for p in &polygons {
            element(&mut out, "polygon", p);
        }
        for c in &circles {
            element(&mut out, "circle", c);
        }
        out.push_str("</area></info>");
    }
    out.push_str("</alert>\n");
    out
}
