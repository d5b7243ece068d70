//! Open311 GeoReport v2 at `/open311/v2/`, through a small GeoReport
//! client written from the specification (wiki.open311.org/GeoReport_v2),
//! not from the server's code: its own types, its own reading of JSON and
//! of XML. Every resource in both forms; a request's way from the form
//! through triage to the public; GeoReport's errors; strangers who
//! enumerate ids, send XML that breaks or flood.

use std::time::Duration;

use quick_xml::events::Event;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::*;

const BOTH: [EngineKind; 2] = [EngineKind::Memory, EngineKind::Redis];

/// The nine services the contract's report categories give.
const SERVICE_CODES: [&str; 9] = [
    "crowd",
    "violence",
    "fire",
    "medical",
    "missing_person",
    "suspicious_item",
    "infrastructure",
    "rumour",
    "other",
];

// ---- The client: GeoReport v2 as the specification writes it. ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    Xml,
}

const FORMS: [Form; 2] = [Form::Json, Form::Xml];

impl Form {
    fn ext(self) -> &'static str {
        match self {
            Form::Json => "json",
            Form::Xml => "xml",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Service {
    service_code: String,
    service_name: String,
    description: String,
    metadata: bool,
    #[serde(rename = "type")]
    kind: String,
    keywords: String,
    group: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ServiceDefinition {
    service_code: String,
    attributes: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Endpoint {
    specification: String,
    url: String,
    changeset: String,
    #[serde(rename = "type")]
    kind: String,
    formats: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Discovery {
    changeset: String,
    contact: String,
    key_service: String,
    endpoints: Vec<Endpoint>,
}

/// A service request as GET requests lists it; every field but the id is
/// optional in the specification.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ServiceRequest {
    service_request_id: String,
    status: Option<String>,
    status_notes: Option<String>,
    service_name: Option<String>,
    service_code: Option<String>,
    description: Option<String>,
    requested_datetime: Option<String>,
    lat: Option<f64>,
    long: Option<f64>,
    service_notice: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct GeoError {
    code: u16,
    description: String,
}

/// An XML element: its name, text and children, read by quick-xml's
/// reader, which refuses what is not well-formed.
#[derive(Debug, Clone, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn text_of(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.clone())
    }

    fn number_of(&self, name: &str) -> Option<f64> {
        self.text_of(name).map(|t| t.parse().expect("a decimal number"))
    }

    fn all(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }
}

/// Parses a whole document: the UTF-8 declaration first, one root, every
/// tag closed, every entity known; anything else fails the test.
fn parse_xml(body: &str) -> Element {
    assert!(
        body.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
        "the specification wants the declaration with UTF-8 first: {body}"
    );
    let mut reader = quick_xml::Reader::from_str(body);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = vec![Element::default()];
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed XML ({e}): {body}"))
        {
            Event::Start(start) => stack.push(Element {
                name: String::from_utf8(start.name().as_ref().to_vec()).expect("UTF-8 name"),
                ..Element::default()
            }),
            Event::Empty(empty) => {
                let element = Element {
                    name: String::from_utf8(empty.name().as_ref().to_vec()).expect("UTF-8 name"),
                    ..Element::default()
                };
                stack.last_mut().expect("a parent").children.push(element);
            }
            Event::Text(text) => {
                let decoded = text.decode().expect("UTF-8 text");
                let unescaped = quick_xml::escape::unescape(&decoded)
                    .unwrap_or_else(|e| panic!("an unknown entity ({e}): {body}"))
                    .into_owned();
                stack.last_mut().expect("an element").text.push_str(&unescaped);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().expect("UTF-8 reference");
                let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                    .map(str::to_owned)
                    .or_else(|| r.resolve_char_ref().ok().flatten().map(|c| c.to_string()))
                    .unwrap_or_else(|| panic!("an unknown entity &{name}; in {body}"));
                stack.last_mut().expect("an element").text.push_str(&resolved);
            }
            Event::CData(cdata) => {
                let text = String::from_utf8(cdata.into_inner().to_vec()).expect("UTF-8");
                stack.last_mut().expect("an element").text.push_str(&text);
            }
            Event::End(_) => {
                let done = stack.pop().expect("an open element");
                stack.last_mut().expect("a parent").children.push(done);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements: {body}");
    let mut document = stack.pop().expect("the document");
    assert_eq!(document.children.len(), 1, "one root element: {body}");
    document.children.pop().expect("the root")
}

fn service_from_xml(e: &Element) -> Service {
    Service {
        service_code: e.text_of("service_code").expect("service_code"),
        service_name: e.text_of("service_name").expect("service_name"),
        description: e.text_of("description").expect("description"),
        metadata: e.text_of("metadata").expect("metadata") == "true",
        kind: e.text_of("type").expect("type"),
        keywords: e.text_of("keywords").expect("keywords"),
        group: e.text_of("group").expect("group"),
    }
}

fn request_from_xml(e: &Element) -> ServiceRequest {
    ServiceRequest {
        service_request_id: e.text_of("service_request_id").expect("service_request_id"),
        status: e.text_of("status"),
        status_notes: e.text_of("status_notes"),
        service_name: e.text_of("service_name"),
        service_code: e.text_of("service_code"),
        description: e.text_of("description"),
        requested_datetime: e.text_of("requested_datetime"),
        lat: e.number_of("lat"),
        long: e.number_of("long"),
        service_notice: e.text_of("service_notice"),
        email: e.text_of("email"),
        phone: e.text_of("phone"),
    }
}

fn requests_from_xml(root: &Element) -> Vec<ServiceRequest> {
    assert_eq!(root.name, "service_requests");
    assert!(root.children.iter().all(|c| c.name == "request"), "{root:?}");
    root.all("request").into_iter().map(request_from_xml).collect()
}

fn errors_from_xml(root: &Element) -> Vec<GeoError> {
    assert_eq!(root.name, "errors");
    root.all("error")
        .into_iter()
        .map(|e| GeoError {
            code: e.text_of("code").expect("code").parse().expect("a number"),
            description: e.text_of("description").expect("description"),
        })
        .collect()
}

/// An answer: status, `Content-Type`, `Retry-After`, `Allow` and body.
struct Answer {
    status: u16,
    content_type: String,
    retry_after: Option<u64>,
    allow: Option<String>,
    body: String,
}

impl Answer {
    /// The GeoReport errors of a refusal, read in its form; the status the
    /// body names must be the answer's own.
    fn errors(&self, form: Form) -> Vec<GeoError> {
        let errors = match form {
            Form::Json => serde_json::from_str::<Vec<GeoError>>(&self.body)
                .unwrap_or_else(|e| panic!("not a GeoReport JSON error ({e}): {}", self.body)),
            Form::Xml => errors_from_xml(&parse_xml(&self.body)),
        };
        assert_eq!(errors.len(), 1, "{}", self.body);
        assert_eq!(errors[0].code, self.status, "{}", self.body);
        assert!(!errors[0].description.is_empty());
        errors
    }
}

struct Client<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl<'a> Client<'a> {
    fn public(app: &'a TestApp) -> Self {
        Self { app, token: None }
    }

    fn with_token(app: &'a TestApp, token: &str) -> Self {
        Self {
            app,
            token: Some(token.to_owned()),
        }
    }

    fn url(&self, resource: &str) -> String {
        format!("{}/open311/v2/{resource}", self.app.address)
    }

    async fn answer(
        mut resp: awc::ClientResponse<
            impl futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
        >,
    ) -> Answer {
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after").map(|v| v.parse().expect("whole seconds"));
        let allow = header("allow");
        let status = resp.status().as_u16();
        let body = resp.body().limit(16 << 20).await.expect("body");
        Answer {
            status,
            content_type,
            retry_after,
            allow,
            body: String::from_utf8(body.to_vec()).expect("UTF-8 everywhere, as the specification says"),
        }
    }

    async fn get(&self, resource: &str) -> Answer {
        let mut req = self.app.client.get(self.url(resource));
        if let Some(t) = &self.token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        Self::answer(req.send().await.expect("request")).await
    }

    async fn send(&self, method: &str, resource: &str, content_type: &str, body: String) -> Answer {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .app
            .client
            .request(method, self.url(resource))
            .insert_header(("Content-Type", content_type));
        if let Some(t) = &self.token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        Self::answer(req.send_body(body).await.expect("request")).await
    }

    /// A form as the specification's POST takes it.
    async fn post_form(&self, form: Form, fields: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            "POST",
            &format!("requests.{}", form.ext()),
            "application/x-www-form-urlencoded",
            body,
        )
        .await
    }

    /// A request filed: the id answered; panics on an error.
    async fn file(&self, form: Form, fields: &[(&str, &str)]) -> ServiceRequest {
        let answer = self.post_form(form, fields).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let created = self.requests_of(form, &answer);
        assert_eq!(created.len(), 1, "{}", answer.body);
        created[0].clone()
    }

    fn requests_of(&self, form: Form, answer: &Answer) -> Vec<ServiceRequest> {
        match form {
            Form::Json => {
                assert!(
                    answer.content_type.starts_with("application/json"),
                    "{}",
                    answer.content_type
                );
                serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("requests ({e}): {}", answer.body))
            }
            Form::Xml => {
                assert!(answer.content_type.starts_with("text/xml"), "{}", answer.content_type);
                requests_from_xml(&parse_xml(&answer.body))
            }
        }
    }

    async fn requests(&self, form: Form, query: &str) -> Vec<ServiceRequest> {
        let answer = self.get(&format!("requests.{}{query}", form.ext())).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        self.requests_of(form, &answer)
    }

    async fn services(&self, form: Form) -> Vec<Service> {
        let answer = self.get(&format!("services.{}", form.ext())).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        match form {
            Form::Json => serde_json::from_str(&answer.body).expect("services"),
            Form::Xml => {
                let root = parse_xml(&answer.body);
                assert_eq!(root.name, "services");
                assert!(root.children.iter().all(|c| c.name == "service"));
                root.all("service").into_iter().map(service_from_xml).collect()
            }
        }
    }

    async fn definition(&self, form: Form, code: &str) -> ServiceDefinition {
        let answer = self.get(&format!("services/{code}.{}", form.ext())).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        match form {
            Form::Json => serde_json::from_str(&answer.body).expect("definition"),
            Form::Xml => {
                let root = parse_xml(&answer.body);
                assert_eq!(root.name, "service_definition");
                let attributes = root.child("attributes").expect("attributes");
                ServiceDefinition {
                    service_code: root.text_of("service_code").expect("service_code"),
                    attributes: attributes
                        .children
                        .iter()
                        .map(|a| Value::String(a.name.clone()))
                        .collect(),
                }
            }
        }
    }

    async fn discovery(&self, form: Form) -> Discovery {
        let answer = self.get(&format!("discovery.{}", form.ext())).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        match form {
            Form::Json => serde_json::from_str(&answer.body).expect("discovery"),
            Form::Xml => {
                let root = parse_xml(&answer.body);
                assert_eq!(root.name, "discovery");
                let endpoints = root.child("endpoints").expect("endpoints");
                Discovery {
                    changeset: root.text_of("changeset").expect("changeset"),
                    contact: root.text_of("contact").expect("contact"),
                    key_service: root.text_of("key_service").expect("key_service"),
                    endpoints: endpoints
                        .all("endpoint")
                        .into_iter()
                        .map(|e| Endpoint {
                            specification: e.text_of("specification").expect("specification"),
                            url: e.text_of("url").expect("url"),
                            changeset: e.text_of("changeset").expect("changeset"),
                            kind: e.text_of("type").expect("type"),
                            formats: e
                                .child("formats")
                                .expect("formats")
                                .all("format")
                                .into_iter()
                                .map(|f| f.text.clone())
                                .collect(),
                        })
                        .collect(),
                }
            }
        }
    }
}

// ---- Helpers for the tests. ----

const LAT: &str = "44.4937";
const LON: &str = "11.343";

fn fire_form(description: &str) -> Vec<(&str, &str)> {
    vec![
        ("service_code", "fire"),
        ("lat", LAT),
        ("long", LON),
        ("description", description),
        ("first_name", "Ada"),
        ("last_name", "Rossi"),
        ("email", "ada.rossi@example.org"),
        ("phone", "+39 051 555 0101"),
        ("device_id", "device-1"),
        ("api_key", "anything"),
    ]
}

/// A report as operators triage it, from the contract's own route.
async fn triaged(app: &TestApp, id: &str) -> Option<Value> {
    let (status, all) = app.get("/api/v1/reports", Some(&app.operator)).await;
    assert_eq!(status, 200);
    all["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["id"] == id)
        .map(|f| f["properties"].clone())
}

async fn verify(app: &TestApp, id: &str, status: &str) {
    let (code, body) = app.moderate(id, status, &app.operator).await;
    assert_eq!(code, 200, "{body}");
}

fn res11(lat: f64, lon: f64) -> String {
    h3o::LatLng::new(lat, lon)
        .expect("ll")
        .to_cell(h3o::Resolution::Eleven)
        .to_string()
}

async fn operator_count(app: &TestApp, cell: &str) -> u64 {
    let (_, map) = app.get("/api/v1/heatmap?res=11&window=1m", Some(&app.operator)).await;
    map["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .find(|c| c["cell"] == cell)
        .map_or(0, |c| c["count"].as_u64().unwrap_or(0))
}

/// The public requests, polled until `until` holds (the public list may be
/// a second old).
async fn public_requests_until(
    client: &Client<'_>,
    form: Form,
    until: impl Fn(&[ServiceRequest]) -> bool,
) -> Vec<ServiceRequest> {
    let mut last = Vec::new();
    for _ in 0..40 {
        last = client.requests(form, "").await;
        if until(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the public list never got there: {last:?}");
}

// ---- The tests. ----

#[actix_web::test]
async fn every_resource_answers_in_json_and_in_xml_as_the_specification_shows() {
    let app = spawn_app(EngineKind::Memory).await;
    let client = Client::public(&app);
    let mut seen = Vec::new();
    for form in FORMS {
        let discovery = client.discovery(form).await;
        assert_eq!(discovery.endpoints.len(), 1);
        let endpoint = &discovery.endpoints[0];
        assert!(endpoint.specification.contains("GeoReport_v2"), "{endpoint:?}");
        assert!(endpoint.url.ends_with("/open311/v2"), "{endpoint:?}");
        assert!(
            endpoint.formats.contains(&"text/xml".to_owned())
                && endpoint.formats.contains(&"application/json".to_owned())
        );
        assert!(chrono::DateTime::parse_from_rfc3339(&endpoint.changeset).is_ok());
        assert!(!discovery.contact.is_empty() && !discovery.key_service.is_empty());

        let services = client.services(form).await;
        let codes: Vec<&str> = services.iter().map(|s| s.service_code.as_str()).collect();
        assert_eq!(codes, SERVICE_CODES, "{form:?}");
        for s in &services {
            assert!(!s.metadata && s.kind == "realtime", "{s:?}");
            assert!(
                !s.service_name.is_empty()
                    && !s.keywords.is_empty()
                    && !s.group.is_empty()
                    && !s.description.is_empty()
            );
            let definition = client.definition(form, &s.service_code).await;
            assert_eq!(definition.service_code, s.service_code);
            assert!(definition.attributes.is_empty());
        }
        assert!(client.requests(form, "").await.is_empty(), "nothing filed yet");
        seen.push((discovery, services));
    }
    assert_eq!(seen[0], seen[1], "the JSON and the XML forms say the same");
    // HEAD is answered as GET is, without a body.
    let resp = app.client.head(client.url("services.xml")).send().await.expect("head");
    assert_eq!(resp.status().as_u16(), 200);
}

#[actix_web::test]
async fn a_filed_request_goes_through_triage_and_reaches_the_public_once_verified() {
    for kind in BOTH {
        let mut args = test_args();
        args.k_anonymity = Some(1);
        let app = spawn_app_with(kind, args).await;
        let public = Client::public(&app);
        let operator = Client::with_token(&app, &app.operator);
        let cell = res11(44.4937, 11.343);
        let before = operator_count(&app, &cell).await;
        for form in FORMS {
            let described = format!("smoke by the fountain, call me on +39 333 123 4567 ({form:?})");
            let filed = public.file(form, &fire_form(&described)).await;
            let id = filed.service_request_id.clone();
            assert!(filed.service_notice.is_some_and(|n| n.contains("verified")), "{kind:?}");
            assert_eq!(filed.email, None, "the contact never comes back out");

            // Triage: an unverified citizen report, with its contact for operators.
            let report = triaged(&app, &id).await.expect("in triage");
            assert_eq!(report["status"], "unverified", "{kind:?} {report}");
            assert_eq!(report["origin"], "citizen");
            assert_eq!(report["category"], "fire");
            assert_eq!(report["text"], described.as_str());
            let contact = report["contact"].as_str().expect("contact");
            assert!(
                contact.contains("Ada Rossi")
                    && contact.contains("ada.rossi@example.org")
                    && contact.contains("+39 051 555 0101"),
                "{contact}"
            );
            assert!(
                !contact.contains("device-1") && !contact.contains("anything"),
                "{contact}"
            );

            // Not public yet: neither listed nor answering to its id.
            tokio::time::sleep(Duration::from_millis(1_100)).await;
            assert!(
                public
                    .requests(form, "")
                    .await
                    .iter()
                    .all(|r| r.service_request_id != id)
            );
            let hidden = public.get(&format!("requests/{id}.{}", form.ext())).await;
            assert_eq!(hidden.status, 404, "{}", hidden.body);
            hidden.errors(form);
            // Operators see it as open, at its place, in full.
            let mine = operator.requests(form, &format!("?service_request_id={id}")).await;
            assert_eq!(mine.len(), 1);
            assert_eq!(mine[0].status.as_deref(), Some("open"));
            assert_eq!(mine[0].description.as_deref(), Some(described.as_str()));
            assert_eq!((mine[0].lat, mine[0].long), (Some(44.4937), Some(11.343)));
        }
        assert_eq!(
            operator_count(&app, &cell).await,
            before + 2,
            "{kind:?}: operators count both at once"
        );
        let public_map = app.get("/api/v1/heatmap?res=9", None).await.1;
        assert_eq!(
            public_map["cells"],
            json!([]),
            "{kind:?}: unverified input makes no public crowd"
        );

        // Verified: public, masked, at its cell's centre, in both forms.
        let all = operator.requests(Form::Json, "?service_code=fire").await;
        assert_eq!(all.len(), 2, "{kind:?}");
        for r in &all {
            verify(&app, &r.service_request_id, "verified").await;
        }
        for form in FORMS {
            let listed = public_requests_until(&public, form, |l| l.len() == 2).await;
            for r in &listed {
                assert_eq!(r.status.as_deref(), Some("open"));
                assert_eq!(r.service_code.as_deref(), Some("fire"));
                assert!(
                    r.requested_datetime
                        .as_deref()
                        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
                );
                let text = r.description.as_deref().expect("description");
                assert!(
                    text.contains("smoke by the fountain") && !text.contains("123 4567"),
                    "masked: {text}"
                );
                let centre = h3o::LatLng::from(
                    h3o::LatLng::new(44.4937, 11.343)
                        .expect("ll")
                        .to_cell(h3o::Resolution::Nine),
                );
                let (lat, lon) = (r.lat.expect("lat"), r.long.expect("long"));
                assert!(
                    (lat - centre.lat()).abs() < 1e-5 && (lon - centre.lng()).abs() < 1e-5,
                    "{lat},{lon}"
                );
                assert!((lat, lon) != (44.4937, 11.343), "not the exact position");
                let one = public
                    .get(&format!("requests/{}.{}", r.service_request_id, form.ext()))
                    .await;
                assert_eq!(one.status, 200, "{}", one.body);
                assert_eq!(public.requests_of(form, &one), vec![r.clone()]);
            }
        }
        let level = eventually(|| async {
            let public_map = app.get("/api/v1/heatmap?res=9", None).await.1;
            public_map["cells"][0]["level"].as_u64()
        })
        .await;
        assert!(
            level.is_some_and(|l| (1..=5).contains(&l)),
            "{kind:?}: the public view shows it"
        );

        // Dismissed: closed for operators, with the reason; gone for the public.
        let gone = all[0].service_request_id.clone();
        verify(&app, &gone, "dismissed").await;
        let closed = operator.requests(Form::Xml, "?status=closed").await;
        assert_eq!(closed.len(), 1, "{kind:?}");
        assert_eq!(closed[0].service_request_id, gone);
        assert!(
            closed[0]
                .status_notes
                .as_deref()
                .is_some_and(|n| n.contains("Dismissed"))
        );
        assert_eq!(operator.requests(Form::Json, "?status=open").await.len(), 1);
        public_requests_until(&public, Form::Json, |l| l.iter().all(|r| r.service_request_id != gone)).await;
        assert_eq!(public.get(&format!("requests/{gone}.json")).await.status, 404);
    }
}

#[actix_web::test]
async fn a_commander_files_a_field_report_that_counts_at_once() {
    let app = spawn_app(EngineKind::Memory).await;
    let commander = Client::with_token(&app, &app.commander);
    let filed = commander
        .file(
            Form::Xml,
            &[
                ("service_code", "crowd"),
                ("lat", "44.494"),
                ("long", "11.346"),
                ("description", "dense at the gate"),
            ],
        )
        .await;
    let report = triaged(&app, &filed.service_request_id).await.expect("in triage");
    assert_eq!(report["origin"], "field");
    let listed = public_requests_until(&Client::public(&app), Form::Json, |l| !l.is_empty()).await;
    assert_eq!(listed[0].service_request_id, filed.service_request_id);
    // A forged token is refused in GeoReport's form, not taken as the public.
    let forged = Client::with_token(&app, "not.a.token");
    let answer = forged.post_form(Form::Json, &fire_form("x")).await;
    assert_eq!(answer.status, 401);
    answer.errors(Form::Json);
}

#[actix_web::test]
async fn bad_requests_get_georeport_errors_with_the_right_status() {
    // Every attempt spends from the address's report limit, as on the JSON
    // route; this test sends many.
    let mut args = test_args();
    args.public_report_rate = Some(1_000);
    let app = spawn_app_with(EngineKind::Memory, args).await;
    let client = Client::public(&app);
    let control = "smoke\u{1}\u{1b}[31m";
    let long = "x".repeat(2_001);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("service_code", "aliens"), ("lat", LAT), ("long", LON)],
            "service_code",
        ),
        (vec![("lat", LAT), ("long", LON)], "service_code"),
        (vec![("service_code", "fire"), ("long", LON)], "lat"),
        (
            vec![
                ("service_code", "fire"),
                ("lat", LAT),
                ("address_string", "Via Rizzoli 1"),
            ],
            "long",
        ),
        (vec![("service_code", "fire"), ("lat", "91"), ("long", LON)], "lat"),
        (vec![("service_code", "fire"), ("lat", "NaN"), ("long", LON)], "lat"),
        (vec![("service_code", "fire"), ("lat", LAT), ("long", "181")], "long"),
        (vec![("service_code", "fire"), ("lat", LAT), ("long", "east")], "long"),
        (
            vec![
                ("service_code", "fire"),
                ("lat", LAT),
                ("long", LON),
                ("description", control),
            ],
            "description",
        ),
        (
            vec![
                ("service_code", "fire"),
                ("lat", LAT),
                ("long", LON),
                ("description", &long),
            ],
            "description",
        ),
        (
            vec![
                ("service_code", "fire"),
                ("lat", LAT),
                ("long", LON),
                ("first_name", "A\u{0}da"),
            ],
            "first_name",
        ),
        (
            vec![
                ("service_code", "fire"),
                ("lat", LAT),
                ("long", LON),
                ("email", "not an address"),
            ],
            "email",
        ),
        (
            vec![
                ("service_code", "fire"),
                ("lat", LAT),
                ("long", LON),
                ("media_url", "javascript:alert(1)"),
            ],
            "media_url",
        ),
        (
            vec![("service_code", "fire"), ("lat", LAT), ("lat", "1"), ("long", LON)],
            "more than once",
        ),
    ];
    for form in FORMS {
        for (fields, about) in &cases {
            let answer = client.post_form(form, fields).await;
            assert_eq!(answer.status, 400, "{fields:?}: {}", answer.body);
            let errors = answer.errors(form);
            assert!(errors[0].description.contains(about), "{fields:?}: {errors:?}");
        }
        // Bytes that are not UTF-8, in a name or a value: 400, not replaced.
        for body in [
            "service_code=fire&lat=44.49&long=11.34&description=%FF%FE",
            "service_code=fire&lat=44.49&long=11.34&%C0=x",
        ] {
            let answer = client
                .send(
                    "POST",
                    &format!("requests.{}", form.ext()),
                    "application/x-www-form-urlencoded",
                    body.to_owned(),
                )
                .await;
            assert_eq!(answer.status, 400, "{body}: {}", answer.body);
            assert!(answer.errors(form)[0].description.contains("UTF-8"));
        }
        let answer = client.get(&format!("requests.{}?status=%FFopen", form.ext())).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        answer.errors(form);
        // A browser sent here by another site's page: 403.
        let evil = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("service_code", "fire"), ("lat", LAT), ("long", LON)])
            .finish();
        for origin in ["https://evil.example", "null"] {
            let mut resp = app
                .client
                .post(client.url(&format!("requests.{}", form.ext())))
                .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                .insert_header(("Origin", origin))
                .send_body(evil.clone())
                .await
                .expect("request");
            assert_eq!(resp.status().as_u16(), 403, "{origin}");
            let body = resp.body().await.expect("body");
            assert!(!body.is_empty());
        }
        // Not a form: 415, a JSON body included.
        let json_body = json!({"service_code": "fire", "lat": 44.49, "long": 11.34}).to_string();
        let answer = client
            .send(
                "POST",
                &format!("requests.{}", form.ext()),
                "application/json",
                json_body,
            )
            .await;
        assert_eq!(answer.status, 415, "{}", answer.body);
        answer.errors(form);
        // Too large: 413.
        let huge = format!(
            "service_code=fire&lat=44.49&long=11.34&description={}",
            "a".repeat(70_000)
        );
        let answer = client
            .send(
                "POST",
                &format!("requests.{}", form.ext()),
                "application/x-www-form-urlencoded",
                huge,
            )
            .await;
        assert_eq!(answer.status, 413, "{}", answer.body);
        answer.errors(form);
        // Unknown ids, services and resources: 404.
        for resource in [
            "requests/0123456789abcdef01234567",
            "services/aliens",
            "requests/..%2F..%2Fetc%2Fpasswd",
        ] {
            let answer = client.get(&format!("{resource}.{}", form.ext())).await;
            assert_eq!(answer.status, 404, "{resource}: {}", answer.body);
            answer.errors(form);
        }
        // Bad filters: 400.
        for query in [
            "?status=pending",
            "?start_date=yesterday",
            "?service_code=aliens",
            "?start_date=2026-11-30T10:00:00Z&end_date=2026-11-30T09:00:00Z",
        ] {
            let answer = client.get(&format!("requests.{}{query}", form.ext())).await;
            assert_eq!(answer.status, 400, "{query}: {}", answer.body);
            answer.errors(form);
        }
        // Another method: 405 naming the ones taken.
        let answer = client
            .send(
                "DELETE",
                &format!("requests.{}", form.ext()),
                "text/plain",
                String::new(),
            )
            .await;
        assert_eq!(answer.status, 405);
        assert_eq!(answer.allow.as_deref(), Some("GET, HEAD, POST"));
        answer.errors(form);
    }
    // A format the specification does not name, or no resource at all: 404 in XML.
    for path in ["services.html", "services", "nothing-here.json", "../v1/discovery.xml"] {
        let answer = client.get(path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        let form = if path.ends_with(".json") { Form::Json } else { Form::Xml };
        answer.errors(form);
    }
    assert!(client.requests(Form::Json, "").await.is_empty(), "nothing bad was kept");
    let (_, all) = app.get("/api/v1/reports", Some(&app.operator)).await;
    assert_eq!(all["features"], json!([]), "no bad request reached triage");
}

#[actix_web::test]
async fn text_that_would_break_xml_is_written_as_text() {
    let app = spawn_app(EngineKind::Memory).await;
    let public = Client::public(&app);
    let hostile =
        "</description></request><request><service_request_id>forged</service_request_id>]]>&amp;&#0;<![CDATA[x";
    let filed = public
        .file(
            Form::Xml,
            &[
                ("service_code", "other"),
                ("lat", LAT),
                ("long", LON),
                ("description", hostile),
                ("address_string", "<b>Piazza</b> & \"co\""),
            ],
        )
        .await;
    verify(&app, &filed.service_request_id, "verified").await;
    for form in FORMS {
        let listed = public_requests_until(&public, form, |l| !l.is_empty()).await;
        assert_eq!(listed.len(), 1, "{form:?}: no forged request: {listed:?}");
        let text = listed[0].description.as_deref().expect("description");
        assert!(text.starts_with(hostile), "{form:?} read back as sent: {text}");
        assert!(text.contains("<b>Piazza</b> & \"co\""), "{text}");
    }
}

#[actix_web::test]
async fn enumerating_ids_reveals_no_unverified_report() {
    let app = spawn_app(EngineKind::Memory).await;
    let public = Client::public(&app);
    let mut ids = Vec::new();
    for i in 0..5 {
        let text = format!("unverified {i}");
        ids.push(
            public
                .file(
                    Form::Json,
                    &[
                        ("service_code", "violence"),
                        ("lat", LAT),
                        ("long", LON),
                        ("description", &text),
                    ],
                )
                .await
                .service_request_id,
        );
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let never = "0123456789abcdef01234567";
    let baseline = public.get(&format!("requests/{never}.json")).await;
    assert_eq!(baseline.status, 404);
    for id in &ids {
        for form in FORMS {
            let answer = public.get(&format!("requests/{id}.{}", form.ext())).await;
            let unknown = public.get(&format!("requests/{never}.{}", form.ext())).await;
            assert_eq!(
                (answer.status, &answer.body),
                (unknown.status, &unknown.body),
                "an unverified id answers as one that never was"
            );
            assert!(!answer.body.contains(id.as_str()));
        }
    }
    let all = ids.join(",");
    for form in FORMS {
        for query in [
            format!("?service_request_id={all}"),
            "?status=open".to_owned(),
            "?service_code=violence".to_owned(),
            String::new(),
        ] {
            assert!(public.requests(form, &query).await.is_empty(), "{query}");
        }
    }
    // Ids are not counters: 96 random bits each, so neighbours name nothing.
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5);
    assert!(
        ids.iter()
            .all(|id| id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit())),
        "{ids:?}"
    );
    // A commander sees them all, so they were there to find.
    let commander = Client::with_token(&app, &app.commander);
    assert_eq!(commander.requests(Form::Json, "").await.len(), 5);
}

#[actix_web::test]
async fn a_flood_from_one_address_is_429_in_georeport_form() {
    let mut args = test_args();
    args.public_report_rate = Some(3);
    args.public_read_rate = Some(20);
    let app = spawn_app_with(EngineKind::Memory, args).await;
    let public = Client::public(&app);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let form = if i % 2 == 0 { Form::Json } else { Form::Xml };
        let answer = public.post_form(form, &fire_form("flood")).await;
        if answer.status == 429 {
            assert!(answer.retry_after.is_some_and(|s| s >= 1), "Retry-After");
            answer.errors(form);
        }
        statuses.push(answer.status);
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429, 429]);
    // The JSON route shares the limit: it is one intake.
    assert_eq!(
        app.report(&json!({"lat": 44.49, "lon": 11.34, "category": "fire"}), None)
            .await
            .0,
        429
    );
    // A commander is accountable by its token and not throttled here.
    let commander = Client::with_token(&app, &app.commander);
    assert_eq!(commander.post_form(Form::Json, &fire_form("field")).await.status, 201);
    // Reads are limited per address too, and refused in GeoReport's form.
    let mut refused = None;
    for _ in 0..40 {
        let answer = public.get("services.xml").await;
        if answer.status == 429 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status, 200);
    }
    let refused = refused.expect("a read flood is refused");
    assert!(refused.retry_after.is_some_and(|s| s >= 1));
    refused.errors(Form::Xml);
}

#[actix_web::test]
async fn an_engine_that_is_down_is_503_with_retry_after_and_nothing_is_claimed_stored() {
    let mut app = spawn_app(EngineKind::Redis).await;
    app.redis.as_mut().expect("redis").kill();
    let public = Client::public(&app);
    let operator = Client::with_token(&app, &app.operator);
    for form in FORMS {
        let answer = public.post_form(form, &fire_form("smoke")).await;
        assert_eq!(answer.status, 503, "{form:?}: {}", answer.body);
        assert!(answer.retry_after.is_some_and(|s| s >= 1));
        let errors = answer.errors(form);
        assert!(
            !errors[0].description.contains("127.0.0.1"),
            "no host named: {errors:?}"
        );
        let answer = operator.get(&format!("requests.{}", form.ext())).await;
        assert_eq!(answer.status, 503, "{form:?}: {}", answer.body);
        answer.errors(form);
    }
}
