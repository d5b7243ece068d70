//! `GET /api/v1/event`: what the pages learn about the deployment instead of
//! hard-coding it.

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn the_event_tells_the_pages_its_place_windows_resolutions_languages_and_lists() {
    let mut args = test_args();
    args.event_name = Some("Bologna march".into());
    args.languages = Some("it, en".into());
    args.windows = Some("1m,15m".into());
    args.public_bands = Some("1,2,3,4".into());
    let app = spawn_on(args).await;
    let (status, event) = app.get("/api/v1/event", None).await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["name"], "Bologna march");
    assert_eq!(event["languages"], json!(["it", "en"]));
    assert_eq!(event["windows"], json!(["1m", "15m"]));
    assert_eq!(event["default_window"], "15m");
    assert_eq!(
        event["resolutions"],
        json!({"min": 7, "max": 11, "default": 9, "public_max": 9})
    );
    assert_eq!(event["report_categories"].as_array().map(Vec::len), Some(9));
    assert_eq!(
        event["cap"]["severities"],
        json!(["Extreme", "Severe", "Moderate", "Minor", "Unknown"])
    );
    assert_eq!(event["k_anonymity"], 5);
    assert_eq!(event["count_retention_secs"], 86_400);
    let levels: Vec<(u64, f64, Option<f64>)> = event["levels"]["public"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| {
            (
                l["level"].as_u64().unwrap_or(0),
                l["from"].as_f64().unwrap_or(-1.0),
                l["below"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        [
            (1, 0.0, Some(1.0)),
            (2, 1.0, Some(2.0)),
            (3, 2.0, Some(3.0)),
            (4, 3.0, Some(4.0)),
            (5, 4.0, None)
        ]
    );
    // The box holds every zone of the event, and nothing far beyond them.
    let bbox: Vec<f64> = event["bbox"]
        .as_array()
        .expect("bbox")
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    let (_, zones) = app.get("/api/v1/zones", None).await;
    let mut points = Vec::new();
    collect_points(&zones, &mut points);
    assert!(!points.is_empty());
    for [lon, lat] in &points {
        assert!(
            bbox[0] <= *lon && *lon <= bbox[2] && bbox[1] <= *lat && *lat <= bbox[3],
            "{lon},{lat} outside {bbox:?}"
        );
    }
    assert!(bbox[2] - bbox[0] < 0.1 && bbox[3] - bbox[1] < 0.1, "{bbox:?}");
}

#[actix_web::test]
async fn an_event_name_or_language_that_is_not_text_stops_the_start_up() {
    for (name, languages) in [(Some("bad\u{1}name"), None), (None, Some("en,not a tag"))] {
        let mut args = test_args();
        args.event_name = name.map(Into::into);
        args.languages = languages.map(Into::into);
        assert!(
            campanile::config::Settings::resolve(&args).is_err(),
            "{name:?} {languages:?}"
        );
    }
}

/// The zones' density scale of §9, as configured: the pages draw their
/// legend from it instead of knowing 2, 4, 5 and 6 people per m².
#[actix_web::test]
async fn the_event_names_the_zone_levels_in_people_per_square_metre() {
    let mut args = test_args();
    args.density_levels = Some("1.5, 3, 4.5, 6.5".into());
    let app = spawn_on(args).await;
    let (status, event) = app.get("/api/v1/event", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        event["levels"]["zones"],
        serde_json::json!([
            {"level": "normal", "from": 0.0, "below": 1.5},
            {"level": "caution", "from": 1.5, "below": 3.0},
            {"level": "alert", "from": 3.0, "below": 4.5},
            {"level": "serious", "from": 4.5, "below": 6.5},
            {"level": "critical", "from": 6.5, "below": null}
        ])
    );
}

/// A crowd setting that cannot be used stops the start-up with its flag
/// named, rather than estimate people on nonsense.
#[test]
fn crowd_settings_that_cannot_be_used_stop_the_start_up_with_their_flag() {
    type Set = fn(&mut campanile::config::ServeArgs);
    let cases: [(&str, Set); 5] = [
        ("--density-levels", |a| a.density_levels = Some("4,2,5,6".into())),
        ("--density-levels", |a| a.density_levels = Some("2,4,5".into())),
        ("--people-per-contributor", |a| a.people_per_contributor = Some(0.0)),
        ("--people-per-contributor", |a| {
            a.people_per_contributor = Some(f64::NAN)
        }),
        ("--estimate-window", |a| a.estimate_window = Some("7m".into())),
    ];
    for (flag, set) in cases {
        let mut args = test_args();
        set(&mut args);
        match campanile::config::Settings::resolve(&args) {
            Ok(_) => panic!("{flag}: accepted"),
            Err(err) => assert!(err.to_string().contains(flag), "{flag}: {err}"),
        }
    }
    let settings = campanile::config::Settings::resolve(&test_args()).expect("defaults");
    assert_eq!(settings.estimate_window.name(), "15m");
}

fn collect_points(value: &serde_json::Value, out: &mut Vec<[f64; 2]>) {
    match value {
        serde_json::Value::Array(items) => {
            if let [lon, lat] = items.as_slice()
                && let (Some(lon), Some(lat)) = (lon.as_f64(), lat.as_f64())
            {
                out.push([lon, lat]);
                return;
            }
            for item in items {
                collect_points(item, out);
            }
        }
        serde_json::Value::Object(map) => {
            if let Some(coordinates) = map.get("coordinates") {
                collect_points(coordinates, out);
            }
            for (key, item) in map {
                if key != "coordinates" {
                    collect_points(item, out);
                }
            }
        }
        _ => {}
    }
}
