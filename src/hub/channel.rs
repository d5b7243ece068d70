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

/// How a reader that fell behind waits for an engine that fails: from
/// 250 ms, doubling up to 8 s, each wait shortened by a random part so that
/// thousands of subscribers that lost the engine together do not come back
/// together.
const ENGINE_PAUSES: crate::schedule::Pauses = crate::schedule::Pauses {
    first: Duration::from_millis(250),
    longest: Duration::from_secs(8),
    jittered: true,
};

/// Reads with `read` until the engine answers: a reader that fell behind
/// waits rather than skip anything. `what` names the read in the log.
pub(crate) async fn until_read<T, F>(what: &'static str, read: impl FnMut() -> F) -> T
where
    F: Future<Output = Result<T, EngineError>>,
{
    crate::schedule::until_ok(what, ENGINE_PAUSES, read).await
}

/// Runs a channel's relay, the one reader of its engine feed on this node,
/// until it ends or `shutdown`.
pub(crate) fn spawn_relay(
    shutdown: tokio_util::sync::CancellationToken,
    relay: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = relay => {}
        }
    })
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

/// The start of a subscription: it waits for an engine that is down
/// (`until_read`) rather than end the subscription unheard.
pub type Start<I> = Pin<Box<dyn Future<Output = Begin<I>> + Send>>;

struct Follower<C: CatchUp, R> {
    channel: Arc<C>,
    live: broadcast::Receiver<Arc<C::Item>>,
    start: Option<Start<C::Item>>,
    pending: VecDeque<Arc<C::Item>>,
    last: u64,
    era: Option<String>,
    /// Eras this subscription has moved on from: an item of one of them,
    /// still queued in the channel, is old news.
    left: VecDeque<String>,
    render: R,
}

/// How an item's era stands to a subscription's.
enum Era {
    /// The subscription's own (or the channel has no eras).
    Same,
    /// A newer one: numbers start again.
    Next,
    /// One the subscription has left.
    Left,
}

/// How many left eras a subscription remembers; a log lost twice within one
/// channel's capacity is as far as it needs to see.
const ERAS_REMEMBERED: usize = 4;

impl<C, R> Follower<C, R>
where
    C: CatchUp,
    R: Fn(&C::Item) -> Option<ServerMessage> + Send + 'static,
{
    async fn next(&mut self) -> Option<ServerMessage> {
        if let Some(start) = self.start.take() {
            let begin = start.await;
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
                Ok(item) => match self.era_of(&item) {
                    Era::Next => {
                        self.last = item.number();
                        self.pending.push_back(item);
                    }
                    Era::Same if item.number() > self.last => {
                        self.last = item.number();
                        self.pending.push_back(item);
                    }
                    // Already delivered by the start or a re-read, or from a lost log.
                    Era::Same | Era::Left => {}
                },
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let missed = until_read("a subscription's missed items", || {
                        self.channel.after(self.last, self.era.as_deref())
                    })
                    .await;
                    if let Some(newest) = missed.last() {
                        match self.era_of(newest) {
                            Era::Next => self.last = newest.number(),
                            Era::Same => self.last = self.last.max(newest.number()),
                            Era::Left => {}
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
    /// How `item`'s era stands to this subscription's. An era neither its
    /// own nor one it left is the next: its numbers start again and the
    /// item is new whatever its number; the subscription moves to it.
    fn era_of(&mut self, item: &C::Item) -> Era {
        match (item.era(), self.era.as_deref()) {
            (Some(era), _) if self.left.iter().any(|left| left == era) => Era::Left,
            (Some(era), Some(mine)) if era != mine => {
                if self.left.len() == ERAS_REMEMBERED {
                    self.left.pop_front();
                }
                if let Some(old) = self.era.replace(era.to_owned()) {
                    self.left.push_back(old);
                }
                Era::Next
            }
            (Some(era), None) => {
                self.era = Some(era.to_owned());
                Era::Same
            }
            _ => Era::Same,
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
        left: VecDeque::new(),
        render,
    };
    Box::pin(futures_util::stream::unfold(follower, |mut f| async move {
        let msg = f.next().await?;
        Some((msg, f))
    }))
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    /// An item of a channel whose log can be lost and numbered again.
    struct Item {
        era: &'static str,
        n: u64,
    }

    impl Numbered for Item {
        fn number(&self) -> u64 {
            self.n
        }
        fn era(&self) -> Option<&str> {
            Some(self.era)
        }
    }

    /// A channel with nothing to re-read: what reaches the subscriber comes
    /// through the live channel.
    struct Empty;

    #[async_trait]
    impl CatchUp for Empty {
        type Item = Item;
        async fn after(&self, _after: u64, _era: Option<&str>) -> Result<Vec<Arc<Item>>, EngineError> {
            Ok(Vec::new())
        }
    }

    fn label(item: &Item) -> Option<ServerMessage> {
        Some(ServerMessage::error("item", format!("{}{}", item.era, item.n)))
    }

    async fn labels(messages: &mut Messages, count: usize) -> Vec<String> {
        let mut got = Vec::new();
        for _ in 0..count {
            let Some(ServerMessage::Error { message, .. }) = messages.next().await else {
                panic!("an item");
            };
            got.push(message);
        }
        got
    }

    #[tokio::test]
    async fn a_new_era_numbers_again_and_an_old_one_queued_behind_it_is_not_followed_back() {
        let (live, receiver) = broadcast::channel(16);
        let start: Start<Item> = Box::pin(std::future::ready(Begin {
            items: Vec::new(),
            last: 5,
            era: Some("a".into()),
        }));
        let mut messages = follow(Arc::new(Empty), receiver, start, label);
        for (era, n) in [("a", 5), ("a", 6), ("b", 1), ("a", 7), ("b", 2), ("b", 2), ("b", 3)] {
            live.send(Arc::new(Item { era, n }))
                .map_err(|_| "no subscriber")
                .expect("sent");
        }
        drop(live);
        // a5 was had already; a7 comes from the log that was lost; b2 once.
        assert_eq!(labels(&mut messages, 4).await, ["a6", "b1", "b2", "b3"]);
        assert!(messages.next().await.is_none(), "nothing more");
    }
}
