//! The server's command line: `serve`, `token`, `simulate`, `replay`,
//! `zones`.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::auth::TokenKeys;
use crate::config::{Secret, ServeArgs, Settings};
use crate::crowd::cover::ZoneCover;
use crate::demo::{ReplayOptions, Scenario, replay};
use crate::domain::Role;
use crate::geodata::load_zones;
use crate::startup::Application;

/// The server's subcommands; the binary adds its instruments (`bench`)
/// beside them.
// Parsed once at start-up: the size of one variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (embedded memory engine unless --redis-url is given).
    Serve(ServeArgs),
    /// Print a signed token for a role.
    Token {
        /// operator, commander or ingest.
        #[arg(long)]
        role: Role,
        /// Who the token is for; recorded in the audit log.
        #[arg(long)]
        sub: String,
        /// How long it is valid (e.g. 12h, 30m).
        #[arg(long, default_value = "12h")]
        ttl: humantime::Duration,
        /// The deployment's secret.
        #[arg(long, env = "CAMPANILE_JWT_SECRET", hide_env_values = true)]
        jwt_secret: Secret,
        /// The issuer the deployment pins (`serve --jwt-issuer`), written as `iss`.
        #[arg(long, env = "CAMPANILE_JWT_ISSUER")]
        jwt_issuer: Option<String>,
    },
    /// Write a scenario's posts as NDJSON, stamped from now (or --start).
    Simulate {
        /// Scenario name in geodata/scenarios, or a path to a .json file.
        #[arg(long, default_value = "bologna-march")]
        scenario: String,
        /// Folder of zones and scenarios.
        #[arg(long, env = "CAMPANILE_GEODATA_DIR", default_value = "geodata")]
        geodata_dir: PathBuf,
        /// Time of the scenario's first second (RFC 3339) [default: now].
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::Utc>>,
        /// Output file [default: standard output].
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Play an NDJSON file of posts into a server, paced by their timestamps.
    Replay {
        /// The NDJSON file.
        file: PathBuf,
        /// Base URL of the server.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        target: String,
        /// An ingest or operator token.
        #[arg(long, env = "CAMPANILE_TOKEN", hide_env_values = true)]
        token: String,
        /// Playback speed: 1 is real time, 10 ten times faster, 0 as fast as possible.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Posts per request at most.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Send the file's timestamps as they are instead of moving them to now.
        #[arg(long)]
        keep_timestamps: bool,
    },
    /// Print each area zone's area beside the area of the H3 cells that
    /// cover it: how far a zone's figures are from its ground.
    Zones {
        /// Folder of zones and scenarios.
        #[arg(long, env = "CAMPANILE_GEODATA_DIR", default_value = "geodata")]
        geodata_dir: PathBuf,
        /// The H3 resolution of the cover (the finest counted, 11 by default).
        #[arg(long, default_value_t = 11)]
        res: u8,
    },
}

/// Runs a parsed command line.
pub async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Token {
            role,
            sub,
            ttl,
            jwt_secret,
            jwt_issuer,
        } => {
            if sub.trim().is_empty() {
                return Err("--sub must not be empty: servers refuse a token without a subject".into());
            }
            let token = TokenKeys::new(jwt_secret.expose())
                .and_then(|keys| keys.with_issuer(jwt_issuer).issue(role, &sub, ttl.into()))
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(())
        }
        Command::Simulate {
            scenario,
            geodata_dir,
            start,
            out,
        } => {
            let scenario = Scenario::load(&geodata_dir, &scenario)?;
            let start = start.unwrap_or_else(chrono::Utc::now);
            let mut text = String::new();
            for post in scenario.all() {
                let ts = start + chrono::Duration::milliseconds(i64::try_from(post.offset_ms).unwrap_or(0));
                text.push_str(&post.to_ndjson(ts));
                text.push('\n');
            }
            match out {
                Some(path) => std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display())),
                None => std::io::stdout().write_all(text.as_bytes()).map_err(|e| e.to_string()),
            }
        }
        Command::Replay {
            file,
            target,
            token,
            speed,
            batch,
            keep_timestamps,
        } => {
            let options = ReplayOptions {
                file,
                target,
                token,
                speed,
                batch: batch.clamp(1, crate::ingest::MAX_BATCH_ITEMS),
                keep_timestamps,
                progress: true,
            };
            let summary = replay(&options).await?;
            println!("{summary}");
            if summary.failed_requests > 0 {
                return Err(format!("{} requests failed", summary.failed_requests));
            }
            Ok(())
        }
        Command::Zones { geodata_dir, res } => {
            let resolution =
                h3o::Resolution::try_from(res).map_err(|_| format!("{res} is not an H3 resolution (0-15)"))?;
            let zones = load_zones(&geodata_dir.join("zones"))?;
            let cover = ZoneCover::new(&zones, resolution)?;
            print!("{}", zone_cover_table(&zones, &cover));
            Ok(())
        }
    }
}

/// One Markdown row per area zone: id, name, the area densities divide by
/// (`usable_area_m2` when given), the ground's geodesic area, the cells and
/// their area, and how far the cells are from the ground, in per cent: the
/// cover's edge error, which a usable area does not change.
fn zone_cover_table(zones: &crate::domain::Zones, cover: &ZoneCover) -> String {
    let mut table = format!(
        "| zone | name | area_m2 | geodesic_m2 | cells (res {}) | cells_m2 | cells vs geodesic |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
        u8::from(cover.resolution())
    );
    for id in zones.ids() {
        let (Some(area), Some(ground), Some(cells), Some(cells_area)) = (
            zones.area_m2(id),
            zones.geodesic_area_m2(id),
            cover.cells(id),
            cover.cells_area_m2(id),
        ) else {
            continue;
        };
        table.push_str(&format!(
            "| {id} | {} | {area:.0} | {ground:.0} | {} | {cells_area:.0} | {:+.1} % |\n",
            zones.name(id).unwrap_or(id),
            cells.len(),
            (cells_area - ground) / ground * 100.0
        ));
    }
    table
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = Settings::resolve(&args.layered().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    if settings.jwt_secret_is_ephemeral {
        tracing::warn!("CAMPANILE_JWT_SECRET is not set: using a random secret valid for this process only");
    }
    if settings.author_secret_is_ephemeral {
        tracing::warn!(
            "CAMPANILE_AUTHOR_SECRET is not set: using a random author-hash key for this process only; \
             every node of a deployment needs the same one to count contributors alike"
        );
    }
    let demo = settings.demo;
    // Before the build: the default cap on WebSocket sessions follows the limit.
    let files = crate::ws::admission::raise_open_file_limit();
    let app = Application::build(settings).await.map_err(|e| e.to_string())?;
    let state = app.state().clone();
    let host = match state.settings.listen.split(':').next() {
        Some("0.0.0.0") | Some("") | None => "localhost".to_owned(),
        Some(h) => h.to_owned(),
    };
    let base = format!("http://{host}:{}", app.port());
    println!(
        "Campanile {} listening on {base} (engine: {})",
        env!("CARGO_PKG_VERSION"),
        state.engine.kind()
    );
    println!("  operations room: {base}/ops   field: {base}/field   public: {base}/");
    match &state.settings.engine {
        crate::config::EngineChoice::Durable(options) => println!(
            "  data: kept in {} (fsync {}): a restart or a crash keeps what was acknowledged",
            options.data_dir.display(),
            options.fsync
        ),
        crate::config::EngineChoice::Memory => {
            println!("  data: in memory only (--ephemeral): stopping the server loses everything")
        }
        _ => {}
    }
    if let Some(files) = files {
        let raised = if files.now > files.was {
            format!("raised from {}", files.was)
        } else if files.now < files.hard {
            format!("could not be raised to the hard limit {}", files.hard)
        } else {
            "the hard limit".to_owned()
        };
        let sessions = state.ws_admission.max_connections();
        let fewer = match state.settings.ws_max_connections {
            Some(asked) if asked > sessions => {
                format!(" (not the {asked} of --ws-max-connections: each holds two, and ingest needs some)")
            }
            _ => String::new(),
        };
        println!(
            "  open files: up to {} ({raised}), for up to {sessions} WebSocket sessions{fewer}",
            files.now
        );
    }
    if demo {
        let ttl = state
            .settings
            .token_max_ttl
            .min(std::time::Duration::from_secs(12 * 3600));
        let issue = |role, sub| state.keys.issue(role, sub, ttl);
        let (op, cmd) = (
            issue(Role::Operator, "demo-operator"),
            issue(Role::Commander, "demo-commander"),
        );
        if let (Ok(op), Ok(cmd)) = (op, cmd) {
            println!("  demo: playing the scenario {:?}", state.settings.demo_scenario);
            println!("  operator token:  {op}");
            println!("  commander token: {cmd}");
            println!("  open {base}/ops#token={op}");
        }
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}
