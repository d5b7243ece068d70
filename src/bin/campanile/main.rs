//! The `campanile` binary: the server's commands from the library, and
//! `campanile bench`, the load generator, which is an instrument used
//! against a server and so lives beside the binary rather than in it.

mod loadgen;

use clap::{Args, Parser, Subcommand};

/// Campanile: live crowd heatmaps and safety broadcasts for crises and mass gatherings.
#[derive(Debug, Parser)]
#[command(name = "campanile", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of one variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Server(campanile::cli::Command),
    /// Load a running server as its users would and measure it.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// An operator token (posts, broadcasts, full heatmap).
    #[arg(long, env = "CAMPANILE_TOKEN", hide_env_values = true)]
    token: String,
    /// Posts per second offered.
    #[arg(long, default_value_t = 1_000)]
    ingest_rate: u64,
    /// Posts per request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// WebSocket subscribers (half public, half operators).
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Heatmap resolutions the subscribers spread over.
    #[arg(long, value_delimiter = ',', default_value = "8,9")]
    res: Vec<u8>,
    /// Broadcasts sent over the run.
    #[arg(long, default_value_t = 10)]
    broadcasts: u64,
    /// How long to load the server (e.g. 30s, 1m).
    #[arg(long, default_value = "30s")]
    duration: humantime::Duration,
    /// The server's process id, for its RSS and CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Threads for the subscribers [default: the cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// What the target speaks: `campanile`, or `ws` / `socketio` for the
    /// peers of `bench/peers` (broadcasts only).
    #[arg(long, default_value = "campanile")]
    protocol: loadgen::Protocol,
    /// Subscribe to broadcasts only: no heatmap, no probes (the load the
    /// peers are compared on).
    #[arg(long)]
    broadcasts_only: bool,
    /// Loopback source addresses the subscribers connect from (127.0.0.1,
    /// 127.0.0.2, …) when the target is a loopback address; 0: as many as
    /// the kernel's ephemeral ports need.
    #[arg(long, env = "CAMPANILE_BENCH_SOURCE_ADDRESSES", default_value_t = 0)]
    source_addresses: usize,
    /// Share of the posts that carry a text (0–1), so that masking, trends
    /// and the coordination detector have the work a crowd gives them; a
    /// twentieth of those texts repeat one slogan, as a coordinated push.
    #[arg(long, default_value_t = 0.0)]
    text_share: f64,
}

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    campanile::telemetry::init_logging("info");
    let outcome = match Cli::parse().command {
        Command::Server(command) => campanile::cli::run(command).await,
        Command::Bench(args) => bench(args).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("campanile: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn bench(args: BenchArgs) -> Result<(), String> {
    if args.res.is_empty() || args.res.iter().any(|r| *r > 15) {
        return Err("--res takes H3 resolutions, 0-15".into());
    }
    let options = loadgen::BenchOptions {
        target: args.target,
        token: args.token,
        ingest_rate: args.ingest_rate,
        batch: args.batch,
        clients: args.clients,
        resolutions: args.res,
        broadcasts: args.broadcasts,
        duration: args.duration.into(),
        server_pid: args.server_pid,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        protocol: args.protocol,
        broadcasts_only: args.broadcasts_only,
        source_addresses: args.source_addresses,
        text_share: args.text_share.clamp(0.0, 1.0),
    };
    let report = loadgen::run(options).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report).map_err(|e| e.to_string())?);
    } else {
        println!("{report}");
    }
    Ok(())
}
