//! The GeoReport v2 shapes as the OpenAPI document gives them, so that
//! checkers hold the JSON form to them. They describe; the answers are
//! built by [`super::wire`], from one tree for JSON and XML.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// The form of an answer, named by the resource's extension.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Open311Format {
    /// `application/json`.
    Json,
    /// `text/xml`.
    Xml,
}

/// One error of a GeoReport answer (the answer is a list of them).
#[derive(Serialize, ToSchema)]
pub struct GeoReportError {
    /// The HTTP status.
    #[schema(example = 400)]
    code: u16,
    /// What went wrong.
    description: String,
}

/// `discovery`: where the endpoint is and what it speaks.
#[derive(Serialize, ToSchema)]
pub struct Discovery {
    /// When the endpoint last changed.
    changeset: String,
    /// Who runs it.
    contact: String,
    /// How to get a key (none is needed).
    key_service: String,
    /// This endpoint.
    endpoints: Vec<Endpoint>,
}

/// An endpoint of the discovery document.
#[derive(Serialize, ToSchema)]
pub struct Endpoint {
    /// The GeoReport v2 specification.
    specification: String,
    /// The endpoint's base URL.
    url: String,
    /// When it last changed.
    changeset: String,
    /// `production`.
    #[serde(rename = "type")]
    kind: String,
    /// `text/xml` and `application/json`.
    formats: Vec<String>,
}

/// A service: one per report category.
#[derive(Serialize, ToSchema)]
pub struct Service {
    /// The report category.
    #[schema(example = "fire")]
    service_code: String,
    /// Its readable name.
    service_name: String,
    /// What it is for.
    description: String,
    /// Always false: no service has attributes.
    metadata: bool,
    /// `realtime`: a request is a report at once.
    #[serde(rename = "type")]
    kind: String,
    /// Comma-separated keywords.
    keywords: String,
    /// The group the service belongs to.
    group: String,
}

/// A service definition: no service has attributes beyond the request's fields.
#[derive(Serialize, ToSchema)]
pub struct ServiceDefinition {
    /// The service.
    service_code: String,
    /// Always empty.
    attributes: Vec<serde_json::Value>,
}

/// `POST requests` as a form.
#[derive(Serialize, ToSchema)]
pub struct RequestForm {
    /// The report category.
    service_code: String,
    /// Latitude, decimal degrees.
    lat: f64,
    /// Longitude, decimal degrees.
    long: f64,
    /// What the reporter saw, ≤2,000 characters with address and media.
    description: Option<String>,
    /// Kept in the text operators read.
    address_string: Option<String>,
    /// An http(s) URL, kept in the text operators read.
    media_url: Option<String>,
    /// Contact for operators only.
    email: Option<String>,
    /// Contact for operators only.
    first_name: Option<String>,
    /// Contact for operators only.
    last_name: Option<String>,
    /// Contact for operators only.
    phone: Option<String>,
    /// Checked and not kept.
    device_id: Option<String>,
    /// Checked and not kept.
    account_id: Option<String>,
    /// Ignored: no key is needed.
    api_key: Option<String>,
}

/// The answer to `POST requests`.
#[derive(Serialize, ToSchema)]
pub struct RequestCreated {
    /// The report's id.
    service_request_id: String,
    /// What happens next.
    service_notice: String,
}

/// A service request as `GET requests` shows it.
#[derive(Serialize, ToSchema)]
pub struct ServiceRequest {
    /// The report's id.
    service_request_id: String,
    /// `open` (unverified, verified) or `closed` (dismissed, false).
    #[schema(pattern = "^(open|closed)$")]
    status: String,
    /// The moderation state in words.
    status_notes: String,
    /// The service's name.
    service_name: String,
    /// The report category.
    service_code: String,
    /// The text, masked for everyone but operators.
    description: Option<String>,
    /// When it arrived.
    requested_datetime: chrono::DateTime<chrono::Utc>,
    /// Latitude; for the public the centre of its cell.
    lat: f64,
    /// Longitude; for the public the centre of its cell.
    long: f64,
}
