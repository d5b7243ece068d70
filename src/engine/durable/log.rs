//! The durable engine's files: an append-only log in numbered segments,
//! flushed to disk by the `--fsync` policy, compacted as what it holds
//! expires.
//!
//! Every record is written to the file (the kernel's page cache) before its
//! call is applied, so a killed process loses nothing it acknowledged;
//! `always` also flushes the disk before the answer (one `fdatasync` shared
//! by every call waiting at that moment), `everysec` flushes once a second,
//! so a power cut can take the last second, as Redis's `appendfsync`.
//!
//! A segment is closed at [`SEGMENT_BYTES`] or after an hour and never
//! written again. A closed segment whose records have mostly expired is
//! rewritten without them (to a temporary file, flushed, then renamed over
//! it), and deleted once nothing in it is kept: the log holds the retention
//! period, not the whole life of the data directory. Post texts leave the
//! disk at the retention period (DESIGN §6) even where the counts of their
//! records are kept longer: a segment holding a text past it is rewritten
//! with the text taken out of its record.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::record::{self, Op, Read};
use crate::engine::{EngineError, Layout};

/// A segment is closed once it holds this much.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// A segment is closed once its first record is this old too (by the log's
/// clock), so that a quiet event's texts reach a closed segment, the only
/// kind compaction rewrites, within an hour of the retention period.
const SEGMENT_SECS: i64 = 3600;

/// A closed segment is rewritten once at least this share of it has
/// expired (and at least [`COMPACT_MIN_BYTES`]).
const COMPACT_SHARE: f64 = 0.5;
const COMPACT_MIN_BYTES: u64 = 1024 * 1024;

/// When the log reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Before every write is answered.
    Always,
    /// Once a second; a write is answered once the kernel has it.
    Everysec,
}

impl std::str::FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(Self::Always),
            "everysec" => Ok(Self::Everysec),
            other => Err(format!("fsync must be always or everysec, not {other:?}")),
        }
    }
}

impl std::fmt::Display for Fsync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Always => "always",
            Self::Everysec => "everysec",
        })
    }
}

/// What the data directory was made for: reopening it with another
/// layout would read its cells and buckets wrongly, so that is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Meta {
    pub format: u32,
    /// The broadcast log's epoch: the same for the directory's whole life,
    /// so that `seq` continues across restarts.
    pub epoch: String,
    pub res_min: u8,
    pub res_max: u8,
    pub bucket_secs: i64,
}

const META_FILE: &str = "campanile.json";
const LOCK_FILE: &str = "LOCK";
const LOCK_PATIENCE: Duration = Duration::from_secs(2);
const LOCK_RETRY: Duration = Duration::from_millis(50);
const FORMAT: u32 = 1;

impl Meta {
    fn for_layout(layout: &Layout, epoch: String) -> Self {
        Self {
            format: FORMAT,
            epoch,
            res_min: u8::from(layout.resolutions.coarsest()),
            res_max: u8::from(layout.resolutions.finest()),
            bucket_secs: layout.bucket_secs,
        }
    }

    /// The directory's meta, made on first start; an error names what
    /// differs.
    fn load_or_create(dir: &Path, layout: &Layout) -> Result<Self, EngineError> {
        let path = dir.join(META_FILE);
        let wanted = Self::for_layout(layout, crate::engine::broadcast_log::new_epoch());
        match fs::read(&path) {
            Ok(bytes) => {
                let found: Self = serde_json::from_slice(&bytes)
                    .map_err(|e| unavailable(format!("{} is not a Campanile data directory's: {e}", path.display())))?;
                if found.format != FORMAT {
                    return Err(unavailable(format!(
                        "{} holds format {}, this Campanile reads format {FORMAT}",
                        dir.display(),
                        found.format
                    )));
                }
                let layout_of = |m: &Self| (m.res_min, m.res_max, m.bucket_secs);
                if layout_of(&found) != layout_of(&wanted) {
                    return Err(unavailable(format!(
                        "{} was written with resolutions {}-{} and {} s buckets, not {}-{} and {} s: \
                         start with the same settings or another --data-dir",
                        dir.display(),
                        found.res_min,
                        found.res_max,
                        found.bucket_secs,
                        wanted.res_min,
                        wanted.res_max,
                        wanted.bucket_secs
                    )));
                }
                Ok(found)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let body = serde_json::to_vec_pretty(&wanted).map_err(|e| unavailable(e.to_string()))?;
                write_atomically(dir, META_FILE, &body)?;
                Ok(wanted)
            }
            Err(e) => Err(io_error(&path, &e)),
        }
    }
}

/// How much of one segment expires when, by the hour: enough to decide
/// when rewriting it pays without keeping a figure per record.
#[derive(Debug, Default, Clone)]
struct Expiry {
    /// Hour (Unix seconds / 3600, rounded up) → bytes expired by then.
    by_hour: BTreeMap<i64, u64>,
    /// When the first post text of the segment passes the retention period
    /// (the segment is rewritten without it then, whatever else it holds).
    texts_due: Option<i64>,
    /// The log's time of the segment's first record.
    first_at: Option<i64>,
    /// Bytes of records kept for the directory's whole life.
    kept: u64,
    total: u64,
}

impl Expiry {
    fn add(&mut self, op: &Op, layout: &Layout, bytes: u64) {
        self.total += bytes;
        self.first_at.get_or_insert(op.at());
        if let Some(due) = op.texts_expire_at(layout) {
            self.texts_due = Some(self.texts_due.map_or(due, |d| d.min(due)));
        }
        match op.expires_at(layout) {
            Some(at) => *self.by_hour.entry(at.div_euclid(3600) + 1).or_default() += bytes,
            None => self.kept += bytes,
        }
    }

    fn expired_by(&self, now: i64) -> u64 {
        self.by_hour.range(..=now.div_euclid(3600)).map(|(_, b)| b).sum()
    }
}

struct Segment {
    number: u64,
    expiry: Expiry,
}

fn segment_name(number: u64) -> String {
    format!("{number:010}.log")
}

struct Writer {
    file: Arc<File>,
    segment: Segment,
}

/// What opening the log found, for the start-up line and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Records replayed.
    pub records: u64,
    /// Bytes of log read.
    pub bytes: u64,
    /// Segments read.
    pub segments: usize,
    /// Bytes cut off the end of the last segment: a record a crash cut in
    /// the middle of, which no caller was told was written.
    pub torn_tail: u64,
}

/// The open log of one data directory.
pub(super) struct Log {
    dir: PathBuf,
    layout: Layout,
    fsync: Fsync,
    /// A segment is closed once it holds this much ([`SEGMENT_BYTES`]).
    segment_bytes: u64,
    writer: tokio::sync::Mutex<Writer>,
    /// The file the flusher flushes: the writer's, swapped at rotation.
    current: Mutex<Arc<File>>,
    closed: Mutex<Vec<Segment>>,
    /// Bytes written since opening, and how many of them are on disk.
    written: AtomicU64,
    synced: tokio::sync::Mutex<u64>,
    /// Set when a write or a flush failed: from then on what is on disk is
    /// unknown, so every write is refused until a restart replays it.
    broken: Mutex<Option<String>>,
    /// The latest caller's time written: the log's clock for expiry.
    latest: AtomicI64,
    /// Held for the log's life: a second process on the directory is refused.
    _lock: File,
}

/// A record written and not yet applied: the log's order is held until the
/// guard is dropped, so that replay applies records in the order the live
/// calls were applied.
pub(super) struct Appended<'a> {
    _order: tokio::sync::MutexGuard<'a, Writer>,
    end: u64,
}

impl Appended<'_> {
    /// Releases the order; the position to flush up to.
    pub fn release(self) -> u64 {
        self.end
    }
}

fn unavailable(message: String) -> EngineError {
    EngineError::Unavailable(message)
}

fn io_error(path: &Path, e: &std::io::Error) -> EngineError {
    unavailable(format!("data directory: {}: {e}", path.display()))
}

/// Writes `name` in `dir` so that it is either the old or the whole new
/// file after a crash.
fn write_atomically(dir: &Path, name: &str, body: &[u8]) -> Result<(), EngineError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut file = private()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| io_error(&tmp, &e))?;
    file.write_all(body).map_err(|e| io_error(&tmp, &e))?;
    file.sync_all().map_err(|e| io_error(&tmp, &e))?;
    fs::rename(&tmp, &path).map_err(|e| io_error(&path, &e))?;
    sync_dir(dir)
}

/// Options for the directory's files: readable by the server's user only,
/// as the directory made for them is (it holds post texts and reporters'
/// contacts, DESIGN §6).
fn private() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, &e))
}

/// The numbers of the directory's segments, oldest first; leftovers of a
/// rewrite cut off by a crash are removed (the segment they would have
/// replaced is still whole).
fn segments_in(dir: &Path) -> Result<Vec<u64>, EngineError> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_error(dir, &e))? {
        let entry = entry.map_err(|e| io_error(dir, &e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            fs::remove_file(entry.path()).map_err(|e| io_error(&entry.path(), &e))?;
        } else if let Some(number) = name.strip_suffix(".log").and_then(|n| n.parse::<u64>().ok()) {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Whether the bad record at `at` is the end of a write a crash cut off,
/// rather than damage with whole records after it: it must run to the end
/// of the log (a crash cuts only the write under way, and writes are one
/// at a time), and no whole record may follow it, should its length be
/// what was damaged. Beyond the largest record a write makes, the tail is
/// not one cut-off write.
fn torn_tail(bytes: &[u8], at: usize) -> bool {
    const TAIL_MAX: usize = 16 * 1024 * 1024;
    let rest = &bytes[at..];
    let runs_to_the_end = match record::read(rest) {
        Read::Incomplete => true,
        Read::BadChecksum(len) => len == rest.len(),
        Read::Record(..) | Read::Undecodable(_) => false,
    };
    runs_to_the_end
        && rest.len() <= TAIL_MAX
        && !(1..rest.len()).any(|from| matches!(record::read(&rest[from..]), Read::Record(..)))
}

/// Takes the data directory `dir` (made if missing) for this process and
/// reads what it was made for.
pub(super) fn take(dir: &Path, layout: &Layout) -> Result<(File, Meta), EngineError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_error(dir, &e))?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = private()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_error(&lock_path, &e))?;
    // An owner that is closing (its last flush) lets go within moments: a
    // server started again at once waits for that, not for a second owner.
    let mut waited = Duration::ZERO;
    while fs4::FileExt::try_lock(&lock).is_err() {
        if waited >= LOCK_PATIENCE {
            return Err(unavailable(format!(
                "data directory {} is in use by another campanile process",
                dir.display()
            )));
        }
        std::thread::sleep(LOCK_RETRY);
        waited += LOCK_RETRY;
    }
    let meta = Meta::load_or_create(dir, layout)?;
    Ok((lock, meta))
}

/// Replays every record of the directory taken with [`take`] into
/// `memory`, in order; then the log is ready for appends.
pub(super) async fn open(
    dir: &Path,
    layout: Layout,
    fsync: Fsync,
    segment_bytes: u64,
    lock: File,
    memory: &super::Replay<'_>,
) -> Result<(Log, Replayed), EngineError> {
    let numbers = segments_in(dir)?;
    let mut replayed = Replayed {
        segments: numbers.len(),
        ..Replayed::default()
    };
    let mut closed = Vec::new();
    let mut latest = i64::MIN;
    for (index, &number) in numbers.iter().enumerate() {
        let path = dir.join(segment_name(number));
        let bytes = fs::read(&path).map_err(|e| io_error(&path, &e))?;
        let mut expiry = Expiry::default();
        let mut at = 0;
        while at < bytes.len() {
            match record::read(&bytes[at..]) {
                Read::Record(op, len) => {
                    memory.apply(&op).await?;
                    expiry.add(&op, &layout, len as u64);
                    latest = latest.max(op.at());
                    replayed.records += 1;
                    at += len;
                }
                Read::Incomplete | Read::BadChecksum(_) if index + 1 == numbers.len() && torn_tail(&bytes, at) => {
                    // A write the crash cut off: its caller was never told
                    // it was stored. Cut it so that appends follow whole
                    // records.
                    let file = private().write(true).open(&path).map_err(|e| io_error(&path, &e))?;
                    file.set_len(at as u64).map_err(|e| io_error(&path, &e))?;
                    file.sync_all().map_err(|e| io_error(&path, &e))?;
                    replayed.torn_tail = (bytes.len() - at) as u64;
                    tracing::warn!(
                        segment = %path.display(),
                        offset = at,
                        bytes = replayed.torn_tail,
                        "cut a record left half-written by a crash off the end of the log"
                    );
                    break;
                }
                Read::Incomplete | Read::BadChecksum(_) => {
                    return Err(unavailable(format!(
                        "{} is damaged at byte {at}, before later segments: refusing to start on a log with a \
                         hole in it",
                        path.display()
                    )));
                }
                Read::Undecodable(e) => {
                    return Err(unavailable(format!(
                        "{} holds a record this Campanile cannot read at byte {at}: {e}",
                        path.display()
                    )));
                }
            }
        }
        replayed.bytes += at as u64;
        closed.push(Segment { number, expiry });
    }

    // Appends go on at the end of the last segment, or a first one.
    let segment = match closed.pop() {
        Some(last) => last,
        None => Segment {
            number: 1,
            expiry: Expiry::default(),
        },
    };
    let path = dir.join(segment_name(segment.number));
    let file = private()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_error(&path, &e))?;
    sync_dir(dir)?;
    let file = Arc::new(file);
    let log = Log {
        dir: dir.to_owned(),
        layout,
        fsync,
        segment_bytes,
        current: Mutex::new(file.clone()),
        writer: tokio::sync::Mutex::new(Writer { file, segment }),
        closed: Mutex::new(closed),
        written: AtomicU64::new(0),
        synced: tokio::sync::Mutex::new(0),
        broken: Mutex::new(None),
        latest: AtomicI64::new(latest),
        _lock: lock,
    };
    Ok((log, replayed))
}

impl Drop for Log {
    /// A server stopped on purpose leaves everything on disk, whatever the
    /// policy.
    fn drop(&mut self) {
        if let Ok(current) = self.current.lock()
            && let Err(e) = current.sync_data()
        {
            tracing::error!(error = %e, "flushing the log at shutdown failed");
        }
    }
}

impl Log {
    pub fn fsync(&self) -> Fsync {
        self.fsync
    }

    /// Refuses writes once the disk failed.
    pub fn check(&self) -> Result<(), EngineError> {
        match self.broken.lock().map(|b| b.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(unavailable(format!("data directory failed, restart to recover: {why}"))),
            Err(_) => Err(unavailable("data directory state poisoned".into())),
        }
    }

    fn fail(&self, why: String) -> EngineError {
        if let Ok(mut broken) = self.broken.lock() {
            broken.get_or_insert_with(|| why.clone());
        }
        tracing::error!(%why, "the data directory failed: writes are refused until a restart");
        unavailable(format!("data directory failed: {why}"))
    }

    /// Writes `op` at the end of the log and holds the log's order until
    /// the returned guard is released: apply the call in between.
    pub async fn append(&self, op: &Op<'_>) -> Result<Appended<'_>, EngineError> {
        let framed = op.frame().map_err(unavailable)?;
        let mut writer = self.writer.lock().await;
        self.check()?;
        let old = writer
            .segment
            .expiry
            .first_at
            .is_some_and(|first| op.at() - first >= SEGMENT_SECS);
        if writer.segment.expiry.total >= self.segment_bytes || old {
            self.rotate(&mut writer)?;
        }
        let before = writer.segment.expiry.total;
        if let Err(e) = (&*writer.file).write_all(&framed) {
            // Cut what part of it was written, so that later records follow
            // whole ones; if even that fails, the log's end is unknown.
            let cut = writer.file.set_len(before);
            let why = format!("writing the log: {e}");
            return Err(match cut {
                Ok(()) => unavailable(why),
                Err(cut) => self.fail(format!("{why}; then cutting it back: {cut}")),
            });
        }
        writer.segment.expiry.add(op, &self.layout, framed.len() as u64);
        self.latest.fetch_max(op.at(), Ordering::Relaxed);
        let end = self.written.fetch_add(framed.len() as u64, Ordering::AcqRel) + framed.len() as u64;
        Ok(Appended { _order: writer, end })
    }

    /// Closes the writer's segment (flushed to disk) and starts the next.
    fn rotate(&self, writer: &mut Writer) -> Result<(), EngineError> {
        writer
            .file
            .sync_data()
            .map_err(|e| self.fail(format!("flushing a full segment: {e}")))?;
        let number = writer.segment.number + 1;
        let path = self.dir.join(segment_name(number));
        let file = private()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| self.fail(format!("{}: {e}", path.display())))?;
        sync_dir(&self.dir).map_err(|e| self.fail(e.to_string()))?;
        let file = Arc::new(file);
        let full = std::mem::replace(
            &mut writer.segment,
            Segment {
                number,
                expiry: Expiry::default(),
            },
        );
        writer.file = file.clone();
        if let Ok(mut current) = self.current.lock() {
            *current = file;
        }
        if let Ok(mut closed) = self.closed.lock() {
            closed.push(full);
        }
        Ok(())
    }

    /// Under `always`, returns once everything up to `end` is on disk:
    /// one flush serves every caller waiting when it starts.
    pub async fn durable(&self, end: u64) -> Result<(), EngineError> {
        if self.fsync == Fsync::Always {
            self.flush_to(end).await?;
        }
        Ok(())
    }

    async fn flush_to(&self, end: u64) -> Result<(), EngineError> {
        let mut synced = self.synced.lock().await;
        if *synced >= end {
            return Ok(());
        }
        let target = self.written.load(Ordering::Acquire);
        let file = self
            .current
            .lock()
            .map_err(|_| unavailable("log file handle poisoned".into()))?
            .clone();
        match tokio::task::spawn_blocking(move || file.sync_data()).await {
            Ok(Ok(())) => {
                *synced = target;
                Ok(())
            }
            Ok(Err(e)) => Err(self.fail(format!("flushing the log: {e}"))),
            Err(e) => Err(self.fail(format!("flushing the log: {e}"))),
        }
    }

    /// The `everysec` flush: whatever was written since the last one.
    pub async fn flush(&self) -> Result<(), EngineError> {
        let end = self.written.load(Ordering::Acquire);
        self.flush_to(end).await
    }

    /// Rewrites or deletes the closed segments whose records have mostly
    /// expired by the log's clock; returns the bytes it freed. Runs on a
    /// blocking thread: it reads and writes whole segments.
    pub fn compact(&self) -> Result<u64, EngineError> {
        let now = self.latest.load(Ordering::Relaxed);
        let due: Vec<(u64, u64)> = {
            let closed = self
                .closed
                .lock()
                .map_err(|_| unavailable("segment list poisoned".into()))?;
            closed
                .iter()
                .filter_map(|s| {
                    let expired = s.expiry.expired_by(now);
                    let worth = expired >= COMPACT_MIN_BYTES && expired as f64 >= s.expiry.total as f64 * COMPACT_SHARE;
                    let texts_due = s.expiry.texts_due.is_some_and(|due| due <= now);
                    (worth || texts_due || (expired > 0 && expired == s.expiry.total)).then_some((s.number, expired))
                })
                .collect()
        };
        let mut freed = 0;
        for (number, _) in due {
            let (expiry, before) = self.rewrite(number, now)?;
            freed += before.saturating_sub(expiry.as_ref().map_or(0, |e| e.total));
            let mut closed = self
                .closed
                .lock()
                .map_err(|_| unavailable("segment list poisoned".into()))?;
            match expiry {
                Some(expiry) => {
                    if let Some(segment) = closed.iter_mut().find(|s| s.number == number) {
                        segment.expiry = expiry;
                    }
                }
                None => closed.retain(|s| s.number != number),
            }
        }
        Ok(freed)
    }

    /// Rewrites segment `number` without the records expired at `now`, or
    /// deletes it when none is left; its new expiry (`None`: deleted) and
    /// its size before.
    fn rewrite(&self, number: u64, now: i64) -> Result<(Option<Expiry>, u64), EngineError> {
        let path = self.dir.join(segment_name(number));
        let bytes = fs::read(&path).map_err(|e| io_error(&path, &e))?;
        let mut kept = Vec::with_capacity(bytes.len() / 4);
        let mut expiry = Expiry::default();
        let mut at = 0;
        while at < bytes.len() {
            let Read::Record(op, len) = record::read(&bytes[at..]) else {
                return Err(unavailable(format!(
                    "{} is damaged at byte {at}: compaction leaves it as it is",
                    path.display()
                )));
            };
            at += len;
            if op.expires_at(&self.layout).is_some_and(|expires| expires <= now) {
                continue;
            }
            if op.texts_expire_at(&self.layout).is_some_and(|due| due <= now) {
                let stripped = op.without_texts();
                let framed = stripped.frame().map_err(unavailable)?;
                expiry.add(&stripped, &self.layout, framed.len() as u64);
                kept.extend_from_slice(&framed);
            } else {
                kept.extend_from_slice(&bytes[at - len..at]);
                expiry.add(&op, &self.layout, len as u64);
            }
        }
        if kept.is_empty() {
            fs::remove_file(&path).map_err(|e| io_error(&path, &e))?;
            sync_dir(&self.dir)?;
            return Ok((None, bytes.len() as u64));
        }
        write_atomically(&self.dir, &segment_name(number), &kept)?;
        Ok((Some(expiry), bytes.len() as u64))
    }

    /// Bytes the log holds on disk now.
    pub fn disk_bytes(&self) -> u64 {
        fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".log")))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}
