//! What checks written by others found (openapi-spec-validator,
//! Schemathesis), each kept as a test: 405 answers that name the allowed
//! methods, query flags refused with their field, a single post accepted
//! as the document says, and heatmap cells cut at the antimeridian.

use campanile::api::geojson::{cell_geometry, cell_shape};
use geo::{Contains, GeodesicArea, LineString, Point, Polygon};
use h3o::{CellIndex, LatLng, Resolution};

use crate::helpers::*;

/// The cells at `res` that hold the antimeridian or a pole, found by
/// walking along ±180° and taking the poles' own cells.
fn awkward_cells(res: Resolution) -> Vec<CellIndex> {
    let mut cells: Vec<CellIndex> = (-89..=89)
        .flat_map(|lat| [179.9999, -179.9999].map(|lon| (f64::from(lat), lon)))
        .filter_map(|(lat, lon)| LatLng::new(lat, lon).ok())
        .map(|ll| ll.to_cell(res))
        .chain(
            [90.0, -90.0]
                .into_iter()
                .filter_map(|lat| LatLng::new(lat, 0.0).ok())
                .map(|ll| ll.to_cell(res)),
        )
        .collect();
    cells.sort_unstable();
    cells.dedup();
    cells
}

/// The cell's ring as h3o gives it, longitudes carried on across ±180° so
/// that consecutive vertices stay close: the shape before any cut.
fn unwrapped(cell: CellIndex) -> Polygon {
    let mut ring: Vec<(f64, f64)> = Vec::new();
    for v in cell.boundary().iter() {
        let mut lon = v.lng();
        if let Some(&(prev, _)) = ring.last() {
            while lon - prev > 180.0 {
                lon -= 360.0;
            }
            while prev - lon > 180.0 {
                lon += 360.0;
            }
        }
        ring.push((lon, v.lat()));
    }
    Polygon::new(LineString::from(ring), Vec::new())
}

#[test]
fn cells_on_the_antimeridian_and_the_poles_become_valid_geojson_at_every_resolution() {
    for r in [0u8, 1, 2, 4, 7, 9, 11] {
        let res = Resolution::try_from(r).expect("resolution");
        let cells = awkward_cells(res);
        let mut cut = 0;
        for cell in cells {
            let shape = cell_shape(cell);
            let holds_pole = [90.0, -90.0]
                .into_iter()
                .find(|&lat| LatLng::new(lat, 0.0).is_ok_and(|p| p.to_cell(res) == cell));
            for polygon in &shape.0 {
                let ring = polygon.exterior();
                assert!(ring.is_closed(), "{cell}: open ring");
                for c in ring.coords() {
                    assert!(
                        (-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y),
                        "{cell}: {c:?} out of range"
                    );
                }
                for line in ring.lines() {
                    assert!(
                        (line.end.x - line.start.x).abs() <= 180.0,
                        "{cell}: edge {line:?} spans more than 180°"
                    );
                }
                // RFC 7946 §3.1.6: exterior rings counter-clockwise (positive shoelace area).
                assert!(
                    geo::Area::signed_area(polygon) > 0.0,
                    "{cell}: exterior ring is clockwise"
                );
            }
            let ours = shape.geodesic_area_unsigned();
            let expected = match holds_pole {
                // No uncut ring of a pole cell exists to compare with, so
                // H3's own area on its authalic sphere: near the poles the
                // WGS84 ellipsoid is flatter, its surface 0.9 % larger
                // ((a²/b)² / R²), whatever the resolution.
                Some(pole) => {
                    let inside = Point::new(0.0, pole - pole.signum() * 1e-9);
                    assert!(shape.contains(&inside), "{cell}: the pole is not inside");
                    let h3 = cell.area_m2();
                    assert!(
                        (ours / h3 - 1.0).abs() < 0.012,
                        "{cell} (res {r}, pole): {ours} m² against H3's {h3} m²"
                    );
                    continue;
                }
                None => unwrapped(cell).geodesic_area_unsigned(),
            };
            // Geodesics on the ellipsoid are not quite H3's great circles.
            assert!(
                (ours / expected - 1.0).abs() < 1e-4,
                "{cell} (res {r}): {ours} m² after the cut against {expected} m² before"
            );
            let geometry = cell_geometry(cell);
            let crosses = unwrapped(cell).exterior().coords().any(|c| c.x.abs() > 180.0);
            assert_eq!(
                geometry["type"],
                if crosses { "MultiPolygon" } else { "Polygon" },
                "{cell}: {geometry}"
            );
            cut += usize::from(crosses);
        }
        assert!(cut >= 2, "only {cut} cells at res {r} cross the antimeridian");
    }
}

/// Every route, the methods it takes (in `Allow`'s order) and one it does not.
const ROUTES: &[(&str, &str, &str)] = &[
    ("/healthz", "GET, HEAD", "POST"),
    ("/readyz", "GET, HEAD", "DELETE"),
    ("/metrics", "GET, HEAD", "PUT"),
    ("/openapi.json", "GET, HEAD", "POST"),
    ("/api/v1/posts", "POST, GET, HEAD", "PUT"),
    ("/api/v1/posts/1-0/reveal", "POST", "GET"),
    ("/api/v1/trends", "GET, HEAD", "POST"),
    ("/api/v1/clusters", "GET, HEAD", "POST"),
    ("/api/v1/clusters/c-1/discount", "POST", "GET"),
    ("/api/v1/clusters/c-1/restore", "POST", "DELETE"),
    ("/api/v1/zones", "GET, HEAD", "POST"),
    ("/api/v1/zones/status", "GET, HEAD", "POST"),
    ("/api/v1/heatmap", "GET, HEAD", "DELETE"),
    ("/api/v1/broadcasts", "GET, HEAD, POST", "DELETE"),
    ("/api/v1/broadcasts/b-1", "GET, HEAD", "PATCH"),
    ("/api/v1/broadcasts/b-1/cap.xml", "GET, HEAD", "POST"),
    ("/api/v1/broadcasts/b-1/ack", "POST", "GET"),
    ("/api/v1/alerts.atom", "GET, HEAD", "PUT"),
    ("/api/v1/alerts", "GET, HEAD", "POST"),
    ("/api/v1/official-alerts", "GET, HEAD", "POST"),
    ("/api/v1/official-alerts/o-1/relay", "POST", "GET"),
    ("/api/v1/event", "GET, HEAD", "PUT"),
    ("/api/v1/export", "GET, HEAD", "DELETE"),
    ("/api/v1/reports", "GET, HEAD, POST", "PUT"),
    ("/api/v1/reports/r-1", "PATCH", "DELETE"),
    ("/api/v1/rumours", "GET, HEAD, POST", "DELETE"),
    ("/api/v1/rumours.atom", "GET, HEAD", "POST"),
    ("/api/v1/rumours/u-1", "GET, HEAD, PATCH", "DELETE"),
    ("/api/v1/rumours/u-1/broadcast", "POST", "GET"),
    ("/api/v1/stats/ingest", "GET, HEAD", "POST"),
    ("/api/v1/audit", "GET, HEAD", "POST"),
    ("/api/v1/zones/z-1/headcount", "POST", "GET"),
    ("/api/v1/calibration", "GET, HEAD", "POST"),
    ("/ws", "GET, HEAD", "POST"),
    // Pages and assets of the web root.
    ("/", "GET, HEAD", "POST"),
    ("/ops/", "GET, HEAD", "PUT"),
    ("/vendor/h3-js/h3-js.umd.js", "GET, HEAD", "DELETE"),
    ("/no-such-page", "GET, HEAD", "POST"),
];

#[actix_web::test]
async fn every_route_answers_another_method_with_405_an_allow_header_and_the_envelope() {
    let app = spawn_app(EngineKind::Memory).await;
    for &(path, allow, wrong) in ROUTES {
        for method in [wrong, "OPTIONS", "TRACE"] {
            let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
            let mut resp = app
                .client
                .request(method.clone(), format!("{}{path}", app.address))
                .insert_header(("Authorization", format!("Bearer {}", app.operator)))
                .send()
                .await
                .expect("answer");
            assert_eq!(resp.status().as_u16(), 405, "{method} {path}");
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            assert_eq!(header("allow").as_deref(), Some(allow), "{method} {path}");
            assert!(
                header("content-type").is_some_and(|t| t.starts_with("application/json")),
                "{method} {path}"
            );
            let body: serde_json::Value = resp.json().await.expect("a JSON body");
            assert_eq!(body["error"]["code"], "method_not_allowed", "{method} {path}: {body}");
            assert!(
                body["error"]["message"].as_str().is_some_and(|m| m.contains(allow)),
                "{body}"
            );
        }
    }
    // Unknown API paths stay 404 whatever the method.
    let mut resp = app
        .client
        .post(format!("{}/api/v1/nothing", app.address))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 404);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
}

#[actix_web::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app(EngineKind::Memory).await;
    for path in [
        "/healthz",
        "/openapi.json",
        "/api/v1/heatmap",
        "/api/v1/broadcasts",
        "/",
        "/ops/",
    ] {
        let mut get = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("GET");
        let mut head = app
            .client
            .head(format!("{}{path}", app.address))
            .send()
            .await
            .expect("HEAD");
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert!(!get.body().await.expect("GET body").is_empty(), "GET {path}");
        assert!(head.body().await.expect("HEAD body").is_empty(), "HEAD {path}");
    }
}

#[actix_web::test]
async fn broadcasts_refuse_an_active_flag_that_is_not_true_or_false_and_name_the_field() {
    let app = spawn_app(EngineKind::Memory).await;
    for bad in ["yes", "1", "TRUE", "", "%00"] {
        let (status, body) = app.get(&format!("/api/v1/broadcasts?active={bad}"), None).await;
        assert_eq!(status, 400, "active={bad}: {body}");
        assert_eq!(body["error"]["field"], "active", "active={bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("true or false"))
        );
    }
    for good in ["true", "false"] {
        let (status, body) = app.get(&format!("/api/v1/broadcasts?active={good}"), None).await;
        assert_eq!(status, 200, "active={good}: {body}");
        assert!(body["broadcasts"].is_array());
    }
    let (status, body) = app.get("/api/v1/audit?limit=lots", Some(&app.operator)).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("limit")),
        "{body}"
    );
}

#[actix_web::test]
async fn a_single_post_object_is_accepted_as_a_batch_of_one() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, body) = app.post_json(&post_at(44.4937, 11.343, "alice", Some("one"))).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(1), Some(0)),
        "{body}"
    );
    assert_eq!(body["rejected"], serde_json::json!([]));
    // The same object again is the same post, counted once.
    let (_, again) = app.post_json(&post_at(44.4937, 11.343, "alice", Some("one"))).await;
    assert_eq!(again["duplicates"], 1, "{again}");
    // A bad single object is named like a bad item of a batch.
    let (status, bad) = app
        .post_json(&serde_json::json!({"source": "test", "lat": 91, "lon": 0}))
        .await;
    assert_eq!(status, 202, "{bad}");
    assert_eq!(bad["rejected"][0]["index"], 0, "{bad}");
    assert_eq!(bad["rejected"][0]["field"], "lat", "{bad}");
}

#[actix_web::test]
async fn heatmap_geojson_cuts_a_cell_on_the_antimeridian_into_a_multipolygon() {
    let app = spawn_app(EngineKind::Memory).await;
    // A cell at resolution 7 that straddles 180° (found by the geometry test's walk).
    let (lat, lon) = (0.5, 179.9999);
    let cell = LatLng::new(lat, lon).expect("point").to_cell(Resolution::Seven);
    assert!(
        unwrapped(cell).exterior().coords().any(|c| c.x.abs() > 180.0),
        "{cell} does not cross"
    );
    let (status, body) = app.post_json(&post_at(lat, lon, "a", Some("am"))).await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(1)), "{body}");
    let feature = eventually(|| async {
        let (_, geo) = app
            .get("/api/v1/heatmap?res=7&window=1m&format=geojson", Some(&app.operator))
            .await;
        geo["features"].as_array().and_then(|f| f.first().cloned())
    })
    .await
    .expect("the cell in the heatmap");
    assert_eq!(feature["id"], cell.to_string());
    assert_eq!(feature["geometry"]["type"], "MultiPolygon", "{feature}");
    let parts = feature["geometry"]["coordinates"].as_array().expect("parts");
    assert_eq!(parts.len(), 2);
    for part in parts {
        let ring = part[0].as_array().expect("ring");
        assert_eq!(ring.first(), ring.last(), "closed ring");
        let lons: Vec<f64> = ring.iter().filter_map(|p| p[0].as_f64()).collect();
        assert!(lons.iter().all(|l| (-180.0..=180.0).contains(l)), "{lons:?}");
        let span = lons.iter().cloned().fold(f64::MIN, f64::max) - lons.iter().cloned().fold(f64::MAX, f64::min);
        assert!(span < 1.0, "a part spans {span}°");
    }
    assert_eq!(feature["properties"]["count"], 1);
}

#[actix_web::test]
async fn the_openapi_document_declares_every_path_parameter_once_per_operation_and_names_each_operation_once() {
    let app = spawn_app(EngineKind::Memory).await;
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        // A template may be part of a segment (`/open311/v2/services.{format}`).
        let wanted: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect();
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(declared, wanted, "{method} {path}");
            for (code, response) in op["responses"].as_object().expect("responses") {
                if code == "429" || code == "503" {
                    assert_eq!(
                        response["headers"]["Retry-After"]["required"], true,
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
    // Every route the server mounts is described, with the methods it takes.
    // (Pages, assets and the WebSocket upgrade are not part of the HTTP API.)
    let api = |p: &str| p.starts_with("/api/") || ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&p);
    for &(path, allow, _) in ROUTES.iter().filter(|(p, _, _)| api(p)) {
        let templated = path
            .replace("b-1", "{id}")
            .replace("r-1", "{id}")
            .replace("u-1", "{id}")
            .replace("z-1", "{id}")
            .replace("c-1", "{id}")
            .replace("o-1", "{id}")
            .replace("1-0", "{id}");
        let item = &paths
            .get(&templated)
            .unwrap_or_else(|| panic!("{templated} undocumented"));
        // HEAD is GET without the body; the document describes GET.
        for method in allow.split(", ").filter(|m| *m != "HEAD") {
            assert!(
                item[method.to_lowercase()].is_object(),
                "{method} {templated} undocumented"
            );
        }
    }
}

#[actix_web::test]
async fn the_openapi_document_states_the_contract_added_by_the_trust_issue() {
    let app = spawn_app(EngineKind::Memory).await;
    let (_, doc) = app.get("/openapi.json", None).await;
    let posts = &doc["paths"]["/api/v1/posts"]["post"];
    for code in ["202", "400", "401", "403", "408", "413", "415", "422", "503"] {
        assert!(posts["responses"][code].is_object(), "POST /api/v1/posts lacks {code}");
    }
    assert!(
        posts["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")),
        "Idempotency-Key"
    );
    let body = &posts["requestBody"]["content"];
    assert!(body["application/x-ndjson"].is_object());
    assert_eq!(
        body["application/json"]["schema"]["$ref"],
        "#/components/schemas/PostBatch"
    );
    let one_of = doc["components"]["schemas"]["PostBatch"]["oneOf"]
        .as_array()
        .expect("one post or an array");
    assert_eq!(one_of.len(), 2);
    assert_eq!(one_of[1]["maxItems"], 10_000);
    let reports = &doc["paths"]["/api/v1/reports"];
    assert!(reports["post"]["responses"]["415"].is_object());
    assert!(reports["post"]["responses"]["429"]["headers"]["Retry-After"].is_object());
    assert!(reports["get"]["responses"]["200"]["content"]["application/geo+json"].is_object());
    let heatmap = &doc["paths"]["/api/v1/heatmap"]["get"];
    let ok = &heatmap["responses"]["200"]["content"];
    assert!(ok["application/json"].is_object() && ok["application/geo+json"].is_object());
    // The deployment's own resolutions and windows bound the parameters.
    let param = |name: &str| {
        heatmap["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or_default()
    };
    assert_eq!(
        (param("res")["minimum"].as_u64(), param("res")["maximum"].as_u64()),
        (Some(7), Some(11))
    );
    assert_eq!(param("window")["enum"], serde_json::json!(["1m", "5m", "15m", "60m"]));
    let public = &doc["components"]["schemas"]["PublicCell"];
    assert_eq!(public["properties"]["cell"]["pattern"], "^[0-9a-f]{15}$");
    assert_eq!(
        (
            public["properties"]["level"]["minimum"].as_u64(),
            public["properties"]["level"]["maximum"].as_u64()
        ),
        (Some(1), Some(5))
    );
    let cells = &doc["components"]["schemas"]["Heatmap"]["properties"]["cells"]["items"];
    assert_eq!(cells["$ref"], "#/components/schemas/CellOut");
    let shapes: Vec<&str> = doc["components"]["schemas"]["CellOut"]["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["$ref"].as_str())
        .collect();
    assert_eq!(
        shapes,
        ["#/components/schemas/FullCell", "#/components/schemas/PublicCell"]
    );
}

/// POSTs a JSON body to `path` with an optional token.
async fn post_to(app: &TestApp, path: &str, body: &serde_json::Value, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = app.client.post(format!("{}{path}", app.address));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = req.send_json(body).await.expect("answer");
    (resp.status().as_u16(), resp.json().await.unwrap_or_default())
}

#[actix_web::test]
async fn a_report_takes_a_crowd_estimate_written_as_a_whole_decimal_number() {
    // Schemathesis sent `7937.0`: a JSON integer to JSON Schema, refused by serde's u64.
    let app = spawn_app(EngineKind::Memory).await;
    let body = serde_json::json!({"lat": 44.4937, "lon": 11.343, "category": "crowd", "crowd_estimate": 7937.0});
    let (status, created) = post_to(&app, "/api/v1/reports", &body, Some(&app.commander)).await;
    assert_eq!(status, 201, "{created}");
    let (_, list) = app.get("/api/v1/reports", Some(&app.operator)).await;
    assert_eq!(list["features"][0]["properties"]["crowd_estimate"], 7937, "{list}");
    for bad in [
        serde_json::json!(7937.5),
        serde_json::json!(-1),
        serde_json::json!(1e300),
        serde_json::json!("many"),
    ] {
        let body = serde_json::json!({"lat": 44.4937, "lon": 11.343, "category": "crowd", "crowd_estimate": bad});
        let (status, answer) = post_to(&app, "/api/v1/reports", &body, None).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert_eq!(answer["error"]["field"], "crowd_estimate", "{bad}: {answer}");
    }
}

#[actix_web::test]
async fn a_body_field_of_the_wrong_type_is_named_in_the_envelope() {
    let app = spawn_app(EngineKind::Memory).await;
    for (body, field) in [
        (
            serde_json::json!({"lat": "north", "lon": 11.343, "category": "fire"}),
            "lat",
        ),
        (
            serde_json::json!({"lat": 44.49, "lon": 11.343, "category": 7}),
            "category",
        ),
        (
            serde_json::json!({"lat": 44.49, "lon": 11.343, "category": "fire", "text": ["a"]}),
            "text",
        ),
    ] {
        let (status, answer) = post_to(&app, "/api/v1/reports", &body, None).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}: {answer}"
        );
        assert_eq!(answer["error"]["code"], "invalid_json");
    }
    let broadcast = serde_json::json!({"audience": "public", "category": "Safety", "event": "x", "severity": 5,
        "urgency": "Immediate", "certainty": "Observed", "headline": "x", "area": {"circles": []}, "expires": "2099-01-01T00:00:00Z"});
    let (status, answer) = post_to(&app, "/api/v1/broadcasts", &broadcast, Some(&app.operator)).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (400, Some("severity")),
        "{answer}"
    );
    // Trailing garbage after a valid report is still a broken body, with no field to blame.
    let mut resp = app
        .client
        .post(format!("{}/api/v1/reports", app.address))
        .insert_header(("Content-Type", "application/json"))
        .send_body(r#"{"lat": 44.49, "lon": 11.343, "category": "fire"} {"#)
        .await
        .expect("answer");
    let answer: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        (resp.status().as_u16(), answer["error"]["field"].is_null()),
        (400, true),
        "{answer}"
    );
}
