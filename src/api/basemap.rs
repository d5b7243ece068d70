//! `GET /basemap.pmtiles`: the operator's base-map archive (`--basemap`,
//! DESIGN §11), at one exact path bound to the file checked at start-up
//! (`crate::basemap`), whole or in the ranges the pages' reader asks for.

use std::path::Path;

use actix_files::NamedFile;
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::error::ApiError;
use crate::basemap::{Basemap, PMTILES_PATH};

/// Mounts `GET`/`HEAD /basemap.pmtiles` when the deployment has an archive.
///
/// The pages' reader fetches pieces of it (the header, then directories and
/// tiles), each with `Range`: `NamedFile` answers 206 with `Content-Range`,
/// 416 for a range outside the file, and `ETag` and `Last-Modified`; it does
/// not evaluate `If-Range`, so [`if_range`] does, lest a reader that holds
/// pieces of a replaced archive be handed a piece of the new one. No folder
/// is mounted, so no other file is reachable.
pub fn configure(basemap: &Basemap, cfg: &mut web::ServiceConfig) {
    if !matches!(basemap, Basemap::Pmtiles(_)) {
        return;
    }
    cfg.service(
        super::resource(PMTILES_PATH, [(Method::GET, web::to(basemap_archive))])
            .wrap(actix_web::middleware::from_fn(if_range)),
    );
}

/// The deployment's base map, a PMTiles archive, whole or in ranges.
#[utoipa::path(get, path = "/basemap.pmtiles", tag = "basemap", operation_id = "basemap_archive",
    params(
        ("Range" = Option<String>, Header, description = "One byte range, RFC 9110 §14.2 (`bytes=0-16383`)"),
        ("If-Range" = Option<String>, Header, description = "Send the range only while the archive still has this `ETag` or `Last-Modified`; else the whole archive"),
    ),
    responses(
        (status = 200, description = "The whole archive (PMTiles v3)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for, with `Content-Range`", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("Content-Range" = String, description = "`bytes FIRST-LAST/LENGTH`"))),
        (status = 404, description = "The deployment has no archive (`--basemap`)", body = super::error::ErrorEnvelope),
        (status = 416, description = "The range lies outside the archive",
            headers(("Content-Range" = String, description = "`bytes */LENGTH`"))),
    ))]
pub async fn basemap_archive(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Basemap::Pmtiles(path) = &state.settings.basemap else {
        return Err(ApiError::NotFound(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    };
    Ok(open_archive(path, &req).await?.into_response(&req))
}

async fn open_archive(path: &Path, req: &HttpRequest) -> Result<NamedFile, ApiError> {
    let file = NamedFile::open_async(path).await.map_err(|e| {
        tracing::warn!(path = %path.display(), error = %e, "base map archive gone since start-up");
        ApiError::NotFound(format!("no route for {} {}", req.method(), req.path()))
    })?;
    Ok(file
        .set_content_type(actix_web::mime::APPLICATION_OCTET_STREAM)
        .disable_content_disposition())
}

/// RFC 9110 §13.1.5: a `Range` sent with an `If-Range` that no longer
/// names the file (another strong `ETag`, another `Last-Modified`, or a
/// weak tag) is ignored, and the whole file is sent.
async fn if_range(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let condition = req.headers().get(header::IF_RANGE).cloned();
    if let Some(condition) = condition.filter(|_| req.headers().contains_key(header::RANGE)) {
        let basemap = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.settings.basemap.clone());
        let current = match basemap {
            Some(Basemap::Pmtiles(path)) => match open_archive(&path, req.request()).await {
                // A probe for the file's validators: they do not depend on
                // the range, and the body is never read.
                Ok(file) => Some(file.into_response(req.request())),
                Err(_) => None,
            },
            _ => None,
        };
        let still = current.is_some_and(|probe| {
            let validator = |name| {
                probe
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let given = condition.to_str().unwrap_or_default().trim();
            if given.starts_with('"') {
                validator(header::ETAG).is_some_and(|tag| tag == given)
            } else {
                let date = |text: &str| text.parse::<header::HttpDate>().ok();
                validator(header::LAST_MODIFIED)
                    .is_some_and(|modified| date(&modified).is_some() && date(&modified) == date(given))
            }
        });
        if !still {
            req.headers_mut().remove(header::RANGE);
        }
    }
    next.call(req).await
}
