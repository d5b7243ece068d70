//! What the hub's ordered channels share (broadcasts, reports, alerts, and
//! later zones and trends): one task per node relays the engine's feed into
//! a channel of prepared items, each numbered in the order published; a
//! subscription follows that channel and, when it falls behind, re-reads
//! what it missed from the engine instead of dropping it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::Stream;
use tokio::sync::broadcast;

use crate::engine::EngineError;
use crate::protocol::ServerMessage;

/// One subscription's messages, in the order the session sends them.
pub type Messages = Pin<Box<dyn Stream<Item = ServerMessage> + Send>>;

/// Prepared items a session may fall behind before it re-reads the engine.
/// Small, because a re-read costs one engine read while every slot holds
/// an item for every subscriber.
pub const CHANNEL_CAPACITY: usize = 256;

/// How long a reader waits before re-reading an engine that failed.
const RETRY: Duration = Duration::from_millis(500);

/// Reads with `read` until the engine answers: a reader that fell behind
/// waits rather than skip anything. `what` names the read in the log.
pub(crate) async fn until_read<T, F>(what: &'static str, mut read: impl FnMut() -> F) -> T
where
    F: Future<Output = Result<T, EngineError>>,
{
    loop {
        match read().await {
            Ok(value) => return value,
            Err(e) => {
                tracing::warn!(error = %e, what, "re-reading the engine failed; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// An item's place in its channel: strictly increasing in the order
/// published, within its era.
pub trait Numbered {
    /// Its number.
    fn number(&self) -> u64;

    /// The numbering it belongs to, when the engine can start numbering
    /// again (a broadcast log that Redis lost starts a new epoch at 1).
    fn era(&self) -> Option<&str> {
        None
    }
}

/// A channel that can re-read from the engine what a subscriber missed.
#[async_trait]
pub trait CatchUp: Send + Sync + 'static {
    /// What the channel carries.
    type Item: Numbered + Send + Sync + 'static;

    /// Every published item numbered above `after` in `era`, in order,
    /// re-read from the engine; every item of the engine's era when it is
    /// another one.
    async fn after(&self, after: u64, era: Option<&str>) -> Result<Vec<Arc<Self::Item>>, EngineError>;
}

/// Where a subscription starts: its first items, the number they bring it
/// to and the era that number belongs to.
pub struct Begin<I> {
    /// Sent first, in order.
    pub items: Vec<Arc<I>>,
    /// The newest number delivered (or skipped as not wanted).
    pub last: u64,
    /// The numbering `last` belongs to.
    pub era: Option<String>,
}

impl<I> Begin<I> {
    /// From now on: nothing first, `last` already published.
    pub fn at(last: u64) -> Self {
        Self {
            items: Vec::new(),
            last,
            era: None,
        }
    }
}

/// The start of a subscription; `None` when the engine could not be read
/// (the subscription then ends).
pub type Start<I> = Pin<Box<dyn Future<Output = Option<Begin<I>>> + Send>>;

struct Follower<C: CatchUp, R> {
    channel: Arc<C>,
    live: broadcast::Receiver<Arc<C::Item>>,
    start: Option<Start<C::Item>>,
    pending: VecDeque<Arc<C::Item>>,
    last: u64,
    era: Option<String>,
    render: R,
}

impl<C, R> Follower<C, R>
where
    C: CatchUp,
    R: Fn(&C::Item) -> Option<ServerMessage> + Send + 'static,
{
    async fn next(&mut self) -> Option<ServerMessage> {
        if let Some(start) = self.start.take() {
            let begin = start.await?;
            self.pending.extend(begin.items);
            self.last = begin.last;
            self.era = begin.era;
        }
        loop {
            while let Some(item) = self.pending.pop_front() {
                if let Some(msg) = (self.render)(&item) {
                    return Some(msg);
                }
            }
            match self.live.recv().await {
                Ok(item) if self.starts_another_era(&item) || item.number() > self.last => {
                    self.last = item.number();
                    self.pending.push_back(item);
                }
                // Already delivered by the start or a re-read.
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let missed = until_read("a subscription's missed items", || {
                        self.channel.after(self.last, self.era.as_deref())
                    })
                    .await;
                    if let Some(newest) = missed.last() {
                        if self.starts_another_era(newest) {
                            self.last = newest.number();
                        } else {
                            self.last = self.last.max(newest.number());
                        }
                    }
                    self.pending.extend(missed);
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl<C: CatchUp, R> Follower<C, R> {
    /// Whether `item` is numbered in an era after this subscription's:
    /// then its numbers start again and the item is new whatever its
    /// number. The subscription moves to that era.
    fn starts_another_era(&mut self, item: &C::Item) -> bool {
        match (item.era(), self.era.as_deref()) {
            (Some(era), Some(mine)) if era != mine => {
                self.era = Some(era.to_owned());
                true
            }
            (Some(era), None) => {
                self.era = Some(era.to_owned());
                false
            }
            _ => false,
        }
    }
}

/// A subscription to `channel`: `start`'s items, then what `live` brings
/// after them, each turned into its message by `render` (`None` skips an
/// item this subscriber may not see). Subscribe `live` before reading the
/// engine for `start`, so that nothing falls between the two.
pub fn follow<C, R>(
    channel: Arc<C>,
    live: broadcast::Receiver<Arc<C::Item>>,
    start: Start<C::Item>,
    render: R,
) -> Messages
where
    C: CatchUp,
    R: Fn(&C::Item) -> Option<ServerMessage> + Send + 'static,
{
    let follower = Follower {
        channel,
        live,
        start: Some(start),
        pending: VecDeque::new(),
        last: 0,
        era: None,
        render,
    };
    Box::pin(futures_util::stream::unfold(follower, |mut f| async move {
        let msg = f.next().await?;
        Some((msg, f))
    }))
}
