//! One heatmap subscription: a snapshot, then a delta for every frame of
//! its group that changes what this subscriber sees. The group's watch
//! keeps only the newest frame, so a session that is slow to ask for the
//! next message skips frames, never cells: the next delta is computed from
//! what was last sent.

use std::sync::Arc;

use tokio::sync::watch;

use super::channel::Messages;
use super::{CellStat, HeatmapFrame, HeatmapKey};
use crate::domain::{BBox, rfc3339};
use crate::protocol::{CellOut, ServerMessage};

struct Follower {
    sub: String,
    key: HeatmapKey,
    bbox: Option<BBox>,
    frames: watch::Receiver<Arc<HeatmapFrame>>,
    /// The frame last sent; `None` before the snapshot.
    last: Option<Arc<HeatmapFrame>>,
}

fn cells_out(cells: &[CellStat]) -> Vec<CellOut> {
    cells.iter().map(CellOut::from).collect()
}

impl Follower {
    fn snapshot(&self, frame: &HeatmapFrame) -> ServerMessage {
        ServerMessage::HeatmapSnapshot {
            sub: self.sub.clone(),
            res: u8::from(self.key.res),
            window: self.key.window.name().to_owned(),
            as_of: rfc3339(frame.as_of),
            cells: cells_out(&frame.snapshot(self.bbox.as_ref())),
        }
    }

    async fn next(&mut self) -> Option<ServerMessage> {
        let Some(mut last) = self.last.clone() else {
            let first = self.frames.borrow_and_update().clone();
            let msg = self.snapshot(&first);
            self.last = Some(first);
            return Some(msg);
        };
        loop {
            self.frames.changed().await.ok()?;
            let frame = self.frames.borrow_and_update().clone();
            if frame.epoch != last.epoch {
                // Re-read after an outage: whatever was missed, start afresh.
                let msg = self.snapshot(&frame);
                self.last = Some(frame);
                return Some(msg);
            }
            let delta = |changed: &[CellStat], removed: &[h3o::CellIndex]| ServerMessage::HeatmapDelta {
                sub: self.sub.clone(),
                as_of: rfc3339(frame.as_of),
                cells: cells_out(changed),
                removed: removed.iter().map(ToString::to_string).collect(),
            };
            let msg = if self.bbox.is_none() && frame.follows(&last) {
                // The common case: the whole map, one frame behind. Every such
                // subscriber of the group gets the same bytes.
                frame
                    .encoded_delta
                    .get(&self.sub, || delta(&frame.changed, &frame.removed))
            } else {
                let (changed, removed) = frame.delta_since(&last, self.bbox.as_ref());
                if changed.is_empty() && removed.is_empty() {
                    last = frame;
                    self.last = Some(last.clone());
                    continue;
                }
                delta(&changed, &removed)
            };
            self.last = Some(frame);
            return Some(msg);
        }
    }
}

/// The messages of subscription `sub` to the group `key`, inside `bbox`.
pub(super) fn follow(
    sub: String,
    key: HeatmapKey,
    bbox: Option<BBox>,
    frames: watch::Receiver<Arc<HeatmapFrame>>,
) -> Messages {
    let follower = Follower {
        sub,
        key,
        bbox,
        frames,
        last: None,
    };
    Box::pin(futures_util::stream::unfold(follower, |mut f| async move {
        let msg = f.next().await?;
        Some((msg, f))
    }))
}
