//! The operators' overlay of unverified citizen reports (DESIGN §6).
//!
//! An anonymous caller must not be able to fake a crowd or push a thin cell
//! over k, so an unverified citizen report is kept out of the engine's
//! counts, which the public views, alerts and estimates read. Operators and
//! commanders still see it at once: each node follows the reports feed and
//! adds the pending reports to its full-picture frames.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use h3o::{CellIndex, Resolution};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{PendingChange, PendingItem, Reports};

/// Unverified citizen reports by id, with the version of the last change
/// seen, so that a change read late never undoes a later one.
#[derive(Default)]
pub struct PendingReports {
    entries: Mutex<HashMap<String, (u64, Option<PendingItem>)>>,
}

impl PendingReports {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Option<PendingItem>)>> {
        // Every update is one insert or retain: a panic cannot leave it torn.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes in one change; an older version than the one known is ignored.
    pub fn apply(&self, change: PendingChange) {
        let mut entries = self.lock();
        match entries.get(&change.id) {
            Some((known, _)) if *known > change.version => {}
            _ => {
                entries.insert(change.id, (change.version, change.item));
            }
        }
    }

    /// Pending reports per cell of `res` in buckets from `first_bucket` on.
    pub fn overlay(&self, res: Resolution, first_bucket: i64) -> HashMap<CellIndex, u64> {
        let mut out = HashMap::new();
        for (_, item) in self.lock().values() {
            let Some(item) = item else { continue };
            if item.bucket < first_bucket {
                continue;
            }
            if let Some(cell) = item.cells.iter().find(|c| c.resolution() == res) {
                *out.entry(*cell).or_default() += 1;
            }
        }
        out
    }

    /// Forgets reports older than any window reads.
    pub fn forget_before(&self, oldest_bucket: i64) {
        self.lock()
            .retain(|_, (_, item)| item.as_ref().is_some_and(|i| i.bucket >= oldest_bucket));
    }

    /// Follows the reports feed until `shutdown`: first every report that a
    /// window can still read, then each change; after a lag or an engine
    /// outage it reads them again.
    pub fn spawn_follower(
        self: Arc<Self>,
        reports: Arc<Reports>,
        longest_window_secs: i64,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            'reload: loop {
                let mut feed = reports.feed();
                let now = chrono::Utc::now().timestamp();
                match reports.stored_since(now - longest_window_secs - 60).await {
                    Ok(bodies) => {
                        for body in bodies {
                            if let Some(change) = reports.pending_change(&body) {
                                self.apply(change);
                            }
                        }
                    }
                    Err(_) => {
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue 'reload,
                        }
                    }
                }
                let mut forget = tokio::time::interval(Duration::from_secs(60));
                loop {
                    let received = tokio::select! {
                        () = shutdown.cancelled() => return,
                        _ = forget.tick() => {
                            let now = chrono::Utc::now().timestamp();
                            self.forget_before(now - longest_window_secs - 60);
                            continue;
                        }
                        r = feed.recv() => r,
                    };
                    match received {
                        Ok(body) => {
                            if let Some(change) = reports.pending_change(&body) {
                                self.apply(change);
                            }
                        }
                        Err(RecvError::Lagged(_)) => continue 'reload,
                        Err(RecvError::Closed) => return,
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: &str, version: u64, pending: bool) -> PendingChange {
        let cell = h3o::LatLng::new(44.49, 11.34).unwrap().to_cell(Resolution::Nine);
        PendingChange {
            id: id.into(),
            version,
            item: pending.then(|| PendingItem {
                cells: vec![cell],
                bucket: 100,
            }),
        }
    }

    #[test]
    fn a_change_read_late_does_not_undo_a_later_one() {
        let p = PendingReports::default();
        p.apply(change("a", 1, false));
        p.apply(change("a", 0, true));
        assert!(p.overlay(Resolution::Nine, 0).is_empty());
        p.apply(change("b", 0, true));
        assert_eq!(p.overlay(Resolution::Nine, 0).values().sum::<u64>(), 1);
        assert!(p.overlay(Resolution::Nine, 110).is_empty());
    }
}
