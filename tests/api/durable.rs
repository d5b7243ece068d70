//! The embedded engine on disk (DESIGN §7): the real binary on a data
//! directory, killed with SIGKILL under ingest and started again on it,
//! keeps everything it acknowledged; a directory in use, or written with
//! other resolutions, is refused; `--ephemeral` keeps nothing.

use std::cell::{Cell, RefCell};
use std::fs::OpenOptions;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    INGEST_BATCH, StopOnDrop, TestApp, Ws, free_port, heatmap_total, ingest_batch, log_tail, minimal_broadcast,
    next_json, next_of_type, report_created, send, send_batch, send_until_acknowledged, serve_process_with,
    server_command,
};

const SECOND: Duration = Duration::from_secs(1);
/// Tags the posts (and `Idempotency-Key`s) of the ingest under kills.
const TAG: &str = "d";
/// Kills tried before giving up on cutting a batch in the middle.
const ROUNDS: usize = 6;
/// How far into a batch's usual time to the 202 each round's kill lands:
/// early ones cut it before it is logged, late ones after.
const KILL_AT: [f64; ROUNDS] = [0.9, 0.5, 0.95, 0.75, 0.3, 0.98];
/// Batches acknowledged by a server before it is killed.
const BATCHES_BEFORE_KILL: usize = 3;

/// The server binary on `dir` with `extra` arguments, its log appended to
/// `log`; answers once it is ready, with how long that took.
async fn start_on(dir: &Path, extra: &[&str], log: &tempfile::NamedTempFile) -> (StopOnDrop, Rc<TestApp>, Duration) {
    let dir = dir.to_str().expect("a UTF-8 temporary path");
    let mut args = vec!["--data-dir", dir];
    args.extend_from_slice(extra);
    let appended = OpenOptions::new().append(true).open(log.path()).expect("log file");
    let started = Instant::now();
    let (process, app) = serve_process_with(&args, appended).await;
    (StopOnDrop(process), Rc::new(app), started.elapsed())
}

/// Kills the server at once, as the kernel's OOM killer or `kill -9` would.
fn kill(server: &mut StopOnDrop) -> Instant {
    server.0.kill().expect("SIGKILL");
    let killed = Instant::now();
    server.0.wait().expect("the killed server is reaped");
    killed
}

/// Starts the binary with `args` and waits for it to give up: how it
/// exited and what it wrote to its log. One that serves fails the test.
fn refused(args: &[&str]) -> (ExitStatus, String) {
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut server = server_command(free_port(), args)
        .stderr(log.reopen().expect("log file"))
        .spawn()
        .expect("serve");
    let deadline = Instant::now() + 30 * SECOND;
    let status = loop {
        if let Some(status) = server.try_wait().expect("the server's status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            let _ = server.wait();
            panic!("the server started anyway; its log ends:\n{}", log_tail(&log));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, std::fs::read_to_string(log.path()).unwrap_or_default())
}

/// A subscriber of the broadcasts channel; `resume` adds `since_seq` and
/// `epoch`.
async fn broadcasts_ws(app: &TestApp, resume: Option<(u64, &str)>) -> Ws {
    let mut ws = app.ws(Some(&app.commander)).await;
    let mut subscribe = json!({"type": "subscribe", "channel": "broadcasts"});
    if let Some((since_seq, epoch)) = resume {
        subscribe["since_seq"] = since_seq.into();
        subscribe["epoch"] = epoch.into();
    }
    send(&mut ws, subscribe).await;
    let reply = next_json(&mut ws, 5 * SECOND).await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    ws
}

/// The next broadcast frame's `seq`, `epoch` and headline.
async fn next_broadcast(ws: &mut Ws) -> (u64, String, String) {
    let got = next_of_type(ws, "broadcast", 10 * SECOND).await;
    (
        got["seq"].as_u64().expect("seq"),
        got["epoch"].as_str().expect("epoch").to_owned(),
        got["broadcast"]["headline"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn broadcast(app: &TestApp, headline: &str) -> Value {
    let mut body = minimal_broadcast();
    body["headline"] = headline.into();
    let (status, sent) = app.send_broadcast(&body, Some(&app.operator)).await;
    assert_eq!(status, 201, "{sent}");
    sent
}

/// Everything an operator reads back that a restart must keep: the
/// reports (with their moderation), one broadcast with its
/// acknowledgements, the audit log.
async fn kept(app: &TestApp, broadcast_id: &str) -> (Value, Value, Value) {
    let (status, reports) = app.get("/api/v1/reports", Some(&app.operator)).await;
    assert_eq!(status, 200, "{reports}");
    let (status, one) = app
        .get(&format!("/api/v1/broadcasts/{broadcast_id}"), Some(&app.operator))
        .await;
    assert_eq!(status, 200, "{one}");
    let (status, audit) = app.get("/api/v1/audit", Some(&app.operator)).await;
    assert_eq!(status, 200, "{audit}");
    // Reports filed within one second are listed in no set order.
    let mut reports = reports["features"].as_array().expect("features").clone();
    reports.sort_by_key(|r| r["id"].as_str().unwrap_or_default().to_owned());
    (Value::Array(reports), one, audit["entries"].clone())
}

/// The sum of the operator's heatmap at the finest resolution.
async fn stored(app: &TestApp) -> u64 {
    let (status, map) = app.get("/api/v1/heatmap?res=11&window=15m", Some(&app.operator)).await;
    assert_eq!(status, 200, "{map}");
    heatmap_total(&map)
}

/// What the ingest and the kills share: they run side by side on the
/// test's one thread.
struct Run {
    /// The server ingest goes to: replaced at every restart.
    app: RefCell<Rc<TestApp>>,
    /// The port of the server last killed, and when.
    killed: Cell<Option<(u16, Instant)>>,
    /// When the attempt on its way started, if one is.
    in_flight: Cell<Option<Instant>>,
    /// Batches acknowledged.
    acknowledged: Cell<usize>,
    /// How long a batch not cut by a kill took to its 202, on average, and
    /// of how many.
    answer_time: Cell<(Duration, u32)>,
    /// Batches whose attempt a kill cut off mid-request, with the posts
    /// that their retry found stored by it.
    cut: RefCell<Vec<(usize, u64)>>,
    over: Cell<bool>,
}

impl Run {
    /// Sends batches back to back, each under its key until it is
    /// answered 202, following the server through its restarts, until
    /// the kills are over and three more batches are acknowledged.
    async fn ingest(&self, log: &tempfile::NamedTempFile) {
        let mut after = 0;
        let mut n = 0;
        while after < 3 {
            let over = self.over.get();
            let body = ingest_batch(TAG, n, INGEST_BATCH).to_string();
            let mut was_cut = false;
            loop {
                let app = self.app.borrow().clone();
                let started = Instant::now();
                self.in_flight.set(Some(started));
                let answer = send_batch(&app, TAG, n, &body).await;
                self.in_flight.set(None);
                match answer {
                    Ok((202, answer)) => {
                        let (accepted, duplicates) = (
                            answer["accepted"].as_u64().unwrap_or(0),
                            answer["duplicates"].as_u64().unwrap_or(0),
                        );
                        assert_eq!(
                            accepted + duplicates,
                            INGEST_BATCH as u64,
                            "every post of batch {n} is acknowledged: {answer}"
                        );
                        if was_cut {
                            self.cut.borrow_mut().push((n, duplicates));
                        } else {
                            let (mean, of) = self.answer_time.get();
                            self.answer_time
                                .set(((mean * of + started.elapsed()) / (of + 1), of + 1));
                        }
                        break;
                    }
                    Ok((status, answer)) => panic!(
                        "batch {n}: {status} {answer} (a retry after a restart runs at once, a 409 means a \
                         lease outlived its process); the log ends:\n{}",
                        log_tail(log)
                    ),
                    Err(e) => {
                        // No answer: only from a server that was killed.
                        let Some((_, at)) = self.killed.get().filter(|(port, _)| *port == app.port) else {
                            panic!(
                                "batch {n} got no answer ({e}) from a live server; the log ends:\n{}",
                                log_tail(log)
                            );
                        };
                        was_cut |= started < at;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            self.acknowledged.set(self.acknowledged.get() + 1);
            n += 1;
            if over {
                after += 1;
            }
        }
    }

    /// Waits until `wanted` holds, checking every millisecond.
    async fn until(&self, what: &str, wanted: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + 60 * SECOND;
        while !wanted(self) {
            assert!(Instant::now() < deadline, "{what} did not happen within a minute");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Kills the server while a batch is in flight and restarts it on
    /// `dir`, round after round (at most [`ROUNDS`]), until a kill cut a
    /// batch that the server had already stored, which its retry then
    /// finds as duplicates; answers the last server and the restarts'
    /// times to ready.
    async fn kill_and_restart(
        &self,
        mut server: StopOnDrop,
        dir: &Path,
        extra: &[&str],
        log: &tempfile::NamedTempFile,
    ) -> (StopOnDrop, Vec<Duration>) {
        let mut to_ready = Vec::new();
        for at in KILL_AT {
            let first = self.acknowledged.get();
            self.until("ingest on the server", |run| {
                run.acknowledged.get() >= first + BATCHES_BEFORE_KILL
            })
            .await;
            let into = self.answer_time.get().0.mul_f64(at);
            self.until("a batch in flight", |run| {
                run.in_flight.get().is_some_and(|started| started.elapsed() >= into)
            })
            .await;
            let port = self.app.borrow().port;
            let killed = kill(&mut server);
            self.killed.set(Some((port, killed)));
            let (restarted, app, took) = start_on(dir, extra, log).await;
            server = restarted;
            to_ready.push(took);
            *self.app.borrow_mut() = app;
            // The batch on its way at the kill is retried, then the next.
            let after = self.acknowledged.get();
            self.until("a batch on the restarted server", |run| {
                run.acknowledged.get() > after + 1
            })
            .await;
            let cut = self.cut.borrow();
            if cut.iter().any(|(_, stored)| *stored > 0) {
                break;
            }
        }
        self.over.set(true);
        (server, to_ready)
    }
}

async fn a_server_killed_under_ingest_keeps_what_it_acknowledged(fsync: &str) {
    let dir = tempfile::tempdir().expect("data dir");
    let log = tempfile::NamedTempFile::new().expect("log file");
    let extra = ["--fsync", fsync];
    let (server, app, _) = start_on(dir.path(), &extra, &log).await;

    // Reports, one moderated; two broadcasts, one acknowledged; the audit
    // log of it all; a subscriber that saw both broadcasts.
    let mut reports = Vec::new();
    for _ in 0..3 {
        reports.push(report_created(&app, 5 * SECOND).await);
    }
    let moderated = reports[1]["id"].as_str().expect("report id");
    let status = app
        .client
        .patch(format!("{}/api/v1/reports/{moderated}", app.address))
        .bearer_auth(&app.operator)
        .send_json(&json!({"status": "verified"}))
        .await
        .expect("moderate")
        .status();
    assert_eq!(status, 200);
    let mut subscriber = broadcasts_ws(&app, None).await;
    let first = broadcast(&app, "Leave by Via Rizzoli").await;
    let second = broadcast(&app, "First aid at the fountain").await;
    let acked = first["id"].as_str().expect("broadcast id");
    let mut resp = app
        .client
        .post(format!("{}/api/v1/broadcasts/{acked}/ack", app.address))
        .bearer_auth(&app.commander)
        .send()
        .await
        .expect("ack");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.expect("json")["first"], true);
    let seen = [
        next_broadcast(&mut subscriber).await,
        next_broadcast(&mut subscriber).await,
    ];
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        [&first, &second].map(|b| b["seq"].as_u64().expect("seq"))
    );
    let (last, epoch) = (seen[1].0, seen[1].1.clone());
    assert_eq!(seen[0].1, epoch, "one log, one epoch");
    drop(subscriber);
    let before = kept(&app, acked).await;
    assert!(
        before.0.as_array().is_some_and(|r| r.len() == 3)
            && before.0.as_array().into_iter().flatten().any(|r| {
                r["properties"]["id"].as_str() == Some(moderated) && r["properties"]["status"] == "verified"
            }),
        "{}",
        before.0
    );
    assert_eq!(before.1["acks"][0]["sub"], "test-commander", "{}", before.1);
    assert!(
        before.2.as_array().is_some_and(|a| a.len() >= 4),
        "moderation, two sends and an ack: {}",
        before.2
    );
    let before_ingest = stored(&app).await;
    assert!(
        send_until_acknowledged(&app, "warm", 0, INGEST_BATCH, Instant::now() + 10 * SECOND)
            .await
            .is_some()
    );
    let before_ingest = before_ingest + INGEST_BATCH as u64;

    // Batches back to back while the server is killed and restarted.
    let run = Run {
        app: RefCell::new(app),
        killed: Cell::new(None),
        in_flight: Cell::new(None),
        acknowledged: Cell::new(0),
        answer_time: Cell::new((Duration::ZERO, 0)),
        cut: RefCell::new(Vec::new()),
        over: Cell::new(false),
    };
    let ((server, to_ready), ()) =
        futures_util::future::join(run.kill_and_restart(server, dir.path(), &extra, &log), run.ingest(&log)).await;
    let _server = server;
    let app = run.app.borrow().clone();
    let cut = run.cut.borrow().clone();
    assert!(
        !cut.is_empty(),
        "no kill in {} rounds landed while a batch was on its way",
        to_ready.len()
    );

    // Acknowledged = stored, exactly.
    let acknowledged = (run.acknowledged.get() * INGEST_BATCH) as u64;
    let on_map = stored(&app).await - before_ingest;
    assert_eq!(on_map, acknowledged, "acknowledged and stored differ");

    // Reports, moderation, acknowledgement and audit log as they were.
    let after = kept(&app, acked).await;
    assert_eq!(after.0, before.0, "the reports and their moderation");
    assert_eq!(after.1, before.1, "the broadcast and its acknowledgement");
    assert_eq!(after.2, before.2, "the audit log");

    // The broadcast log resumes: no gap, no repeat, the same epoch.
    let mut resumed = broadcasts_ws(&app, Some((last, &epoch))).await;
    let mut behind = broadcasts_ws(&app, Some((last - 1, &epoch))).await;
    let third = broadcast(&app, "Via Indipendenza is open again").await;
    assert_eq!(third["seq"].as_u64(), Some(last + 1), "{third}");
    let fourth = broadcast(&app, "The square is clear").await;
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(next_broadcast(&mut resumed).await);
    }
    assert_eq!(
        got,
        [
            (last + 1, epoch.clone(), "Via Indipendenza is open again".to_owned()),
            (last + 2, epoch.clone(), "The square is clear".to_owned()),
        ],
        "resuming from the last seq seen before the kill"
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next_broadcast(&mut behind).await);
    }
    assert_eq!(
        got,
        [
            (last, epoch.clone(), "First aid at the fountain".to_owned()),
            (last + 1, epoch.clone(), "Via Indipendenza is open again".to_owned()),
            (last + 2, epoch.clone(), "The square is clear".to_owned()),
        ],
        "resuming from one before"
    );
    assert_eq!(fourth["seq"].as_u64(), Some(last + 2));

    let stored_by_cut: u64 = cut.iter().map(|(_, s)| s).sum();
    let ms = |d: &Duration| d.as_millis();
    println!(
        "--fsync {fsync}: {} SIGKILLs under ingest, {} of them mid-batch ({stored_by_cut} posts of those batches \
         were stored before the kill and answered as duplicates on retry); {acknowledged} posts acknowledged, \
         {on_map} stored; restart to /readyz 200 in {:?} ms",
        to_ready.len(),
        cut.len(),
        to_ready.iter().map(ms).collect::<Vec<_>>(),
    );
}

#[actix_web::test]
async fn a_server_killed_with_sigkill_under_ingest_restarts_on_its_data_dir_with_everything_it_acknowledged() {
    a_server_killed_under_ingest_keeps_what_it_acknowledged("everysec").await;
}

#[actix_web::test]
async fn with_fsync_always_a_server_killed_under_ingest_keeps_everything_it_acknowledged() {
    a_server_killed_under_ingest_keeps_what_it_acknowledged("always").await;
}

#[actix_web::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("data dir");
    let log = tempfile::NamedTempFile::new().expect("log file");
    let (_first, app, _) = start_on(dir.path(), &[], &log).await;
    let path = dir.path().to_str().expect("a UTF-8 temporary path");
    let (status, said) = refused(&["--data-dir", path]);
    assert!(!status.success(), "{status}: {said}");
    assert!(
        said.contains(&format!("data directory {path} is in use by another campanile process")),
        "{said}"
    );
    assert_eq!(app.get("/readyz", None).await.0, 200, "the first one serves on");
}

#[actix_web::test]
async fn a_server_restarted_with_other_resolutions_refuses_the_data_dir() {
    let dir = tempfile::tempdir().expect("data dir");
    let log = tempfile::NamedTempFile::new().expect("log file");
    let (mut first, app, _) = start_on(dir.path(), &["--res-max", "11"], &log).await;
    assert!(
        send_until_acknowledged(&app, "res", 0, INGEST_BATCH, Instant::now() + 10 * SECOND)
            .await
            .is_some()
    );
    kill(&mut first);

    let path = dir.path().to_str().expect("a UTF-8 temporary path");
    let (status, said) = refused(&["--data-dir", path, "--res-max", "10"]);
    assert!(!status.success(), "{status}: {said}");
    assert!(
        said.contains(path) && said.contains("resolutions 7-11") && said.contains("not 7-10"),
        "the message names the directory and both settings: {said}"
    );

    let (_again, app, _) = start_on(dir.path(), &["--res-max", "11"], &log).await;
    assert_eq!(
        stored(&app).await,
        INGEST_BATCH as u64,
        "the refusal left the data as it was"
    );
}

#[actix_web::test]
async fn ephemeral_keeps_nothing_across_a_restart() {
    let (first, app) = serve_process_with(&["--ephemeral"], Stdio::null()).await;
    let mut first = StopOnDrop(first);
    assert!(
        send_until_acknowledged(&app, "eph", 0, INGEST_BATCH, Instant::now() + 10 * SECOND)
            .await
            .is_some()
    );
    broadcast(&app, "Gone with the process").await;
    let broadcasts = |app: &TestApp| {
        let (client, url, token) = (
            app.client.clone(),
            format!("{}/api/v1/broadcasts", app.address),
            app.operator.clone(),
        );
        async move {
            let mut resp = client.get(url).bearer_auth(token).send().await.expect("list");
            assert_eq!(resp.status(), 200);
            let list: Value = resp.json().await.expect("json");
            list["broadcasts"].as_array().expect("broadcasts").len()
        }
    };
    assert_eq!(stored(&app).await, INGEST_BATCH as u64);
    assert_eq!(broadcasts(&app).await, 1);
    kill(&mut first);

    let (again, app) = serve_process_with(&["--ephemeral"], Stdio::null()).await;
    let _again = StopOnDrop(again);
    assert_eq!(stored(&app).await, 0, "memory only: the counts went with the process");
    assert_eq!(broadcasts(&app).await, 0, "and the broadcasts");
}
