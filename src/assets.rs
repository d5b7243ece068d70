//! The pages and the front-end libraries they load, and nothing else of
//! `web/` (DESIGN §7).
//!
//! `web/` also holds `package.json`, the lock file, the browser tests and all
//! of `node_modules` (a test driver, a browser automation library): none of it
//! is for the public, and each file served is one more thing to audit. So
//! the served set is an allow-list fixed at start-up: the page folders' own
//! files, `index.html`, `favicon.svg`, and the exact library files the pages
//! import. A request is matched against it by its exact path, so no encoding
//! or `..` can reach beyond it; everything else is 404 in the envelope.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::error::ApiError;

/// Folders of `web/` whose files (not sub-folders, not hidden files) are
/// served under the folder's name.
const PAGE_FOLDERS: [&str; 4] = ["ops", "field", "rumours", "shared"];

/// Files at the top of `web/`.
const TOP_FILES: [&str; 2] = ["index.html", "favicon.svg"];

/// Library files the pages load, as `(URL path, path under web/node_modules)`.
/// MapLibre starts its worker from `maplibre-gl-worker.mjs` beside the module;
/// source maps are there for the browser's developer tools.
/// Front-end libraries come from npm (web/package-lock.json) and are served
/// from here: an operations room may be offline, so no request leaves.
/// `pmtiles` is its browser bundle (a classic script that brings its own
/// decompressor), as its ES module imports a bare package name the browser
/// cannot resolve. The map's labels are drawn with Noto Sans from
/// `@fontsource` (MapLibre's `font-faces`), Latin and Latin Extended.
const VENDOR_FILES: [(&str, &str); 14] = [
    (
        "/vendor/maplibre-gl/maplibre-gl.css",
        "maplibre-gl/dist/maplibre-gl.css",
    ),
    (
        "/vendor/maplibre-gl/maplibre-gl.mjs",
        "maplibre-gl/dist/maplibre-gl.mjs",
    ),
    (
        "/vendor/maplibre-gl/maplibre-gl.mjs.map",
        "maplibre-gl/dist/maplibre-gl.mjs.map",
    ),
    (
        "/vendor/maplibre-gl/maplibre-gl-worker.mjs",
        "maplibre-gl/dist/maplibre-gl-worker.mjs",
    ),
    (
        "/vendor/maplibre-gl/maplibre-gl-worker.mjs.map",
        "maplibre-gl/dist/maplibre-gl-worker.mjs.map",
    ),
    ("/vendor/h3-js/h3-js.es.js", "h3-js/dist/browser/h3-js.es.js"),
    ("/vendor/h3-js/h3-js.es.js.map", "h3-js/dist/browser/h3-js.es.js.map"),
    ("/vendor/pmtiles/pmtiles.js", "pmtiles/dist/pmtiles.js"),
    ("/vendor/pmtiles/pmtiles.js.map", "pmtiles/dist/pmtiles.js.map"),
    (
        "/vendor/fonts/noto-sans-latin-400-normal.woff2",
        "@fontsource/noto-sans/files/noto-sans-latin-400-normal.woff2",
    ),
    (
        "/vendor/fonts/noto-sans-latin-ext-400-normal.woff2",
        "@fontsource/noto-sans/files/noto-sans-latin-ext-400-normal.woff2",
    ),
    (
        "/vendor/fonts/noto-sans-latin-700-normal.woff2",
        "@fontsource/noto-sans/files/noto-sans-latin-700-normal.woff2",
    ),
    (
        "/vendor/fonts/noto-sans-latin-ext-700-normal.woff2",
        "@fontsource/noto-sans/files/noto-sans-latin-ext-700-normal.woff2",
    ),
    ("/vendor/fonts/LICENSE", "@fontsource/noto-sans/LICENSE"),
];

/// The served files by URL path, found once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    files: BTreeMap<String, PathBuf>,
}

impl Assets {
    /// Lists what `web_dir` may serve. Missing files are left out (and
    /// logged), so that a server without `npm ci` still starts.
    pub fn discover(web_dir: &Path) -> Self {
        let mut files = BTreeMap::new();
        for name in TOP_FILES {
            files.insert(format!("/{name}"), web_dir.join(name));
        }
        files.insert("/".to_owned(), web_dir.join("index.html"));
        for folder in PAGE_FOLDERS {
            let dir = web_dir.join(folder);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                tracing::warn!(dir = %dir.display(), "page folder missing; its pages will be 404");
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                if is_file && !name.starts_with('.') {
                    files.insert(format!("/{folder}/{name}"), entry.path());
                }
            }
            if dir.join("index.html").is_file() {
                files.insert(format!("/{folder}/"), dir.join("index.html"));
            }
        }
        let vendor = web_dir.join("node_modules");
        for (url, path) in VENDOR_FILES {
            files.insert(url.to_owned(), vendor.join(path));
        }
        files.retain(|url, path| {
            let present = path.is_file();
            if !present {
                tracing::warn!(url, path = %path.display(), "not served: missing (run `npm ci` in web/?)");
            }
            present
        });
        Self { files }
    }

    /// The URL paths served, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Mounts one route per file, and a redirect from `/ops` to `/ops/` for
    /// each page folder that has an index.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        for (url, path) in &self.files {
            let path = path.clone();
            let serve = move |req: HttpRequest| {
                let path = path.clone();
                async move {
                    // Gone since start-up: as if it had never been there.
                    let file = NamedFile::open_async(&path)
                        .await
                        .map_err(|_| ApiError::NotFound(format!("no route for GET {}", req.path())))?;
                    Ok::<_, ApiError>(file.into_response(&req))
                }
            };
            cfg.service(
                web::resource(url.as_str())
                    .route(web::get().to(serve.clone()))
                    .route(web::head().to(serve))
                    .default_service(web::to(method_not_allowed)),
            );
            if let Some(folder) = url.strip_suffix('/').filter(|f| !f.is_empty()) {
                let to = url.clone();
                cfg.service(web::resource(folder).route(web::get().to(move || {
                    let to = to.clone();
                    async move { HttpResponse::Found().insert_header((header::LOCATION, to)).finish() }
                })));
            }
        }
    }
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed("GET, HEAD".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pages_and_the_listed_library_files_are_served() {
        let dir = tempfile::tempdir().expect("dir");
        let web = dir.path();
        for file in [
            "index.html",
            "favicon.svg",
            "package.json",
            "package-lock.json",
            "ops/index.html",
            "ops/.secret",
            "shared/map.js",
            "tests/pages.test.mjs",
            "node_modules/.package-lock.json",
            "node_modules/maplibre-gl/package.json",
            "node_modules/maplibre-gl/dist/maplibre-gl.mjs",
            "node_modules/maplibre-gl/dist/maplibre-gl-dev.mjs",
            "node_modules/pmtiles/dist/pmtiles.js",
            "node_modules/pmtiles/dist/esm/index.js",
            "node_modules/@fontsource/noto-sans/files/noto-sans-latin-400-normal.woff2",
            "node_modules/@fontsource/noto-sans/files/noto-sans-greek-400-normal.woff2",
            "node_modules/playwright-core/index.js",
        ] {
            let path = web.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x").expect("write");
        }
        std::fs::create_dir_all(web.join("shared/nested")).expect("mkdir");
        std::fs::write(web.join("shared/nested/deep.js"), "x").expect("write");
        let assets = Assets::discover(web);
        assert_eq!(
            assets.paths().collect::<Vec<_>>(),
            [
                "/",
                "/favicon.svg",
                "/index.html",
                "/ops/",
                "/ops/index.html",
                "/shared/map.js",
                "/vendor/fonts/noto-sans-latin-400-normal.woff2",
                "/vendor/maplibre-gl/maplibre-gl.mjs",
                "/vendor/pmtiles/pmtiles.js"
            ]
        );
    }
}
