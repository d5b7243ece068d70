//! Groups of readers that share one frame per tick: a heatmap group (one
//! resolution, window and audience) or a zones window. The first reader
//! makes a group, the tick refreshes every live one, and a group nobody
//! watches is forgotten, unless HTTP readers read it lately: a page that
//! polls keeps it warm, a one-off read does not keep it forever.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// How long a group read over HTTP is refreshed without a subscriber.
const HTTP_KEEP_ALIVE: Duration = Duration::from_secs(60);

/// Until when a group read over HTTP now is kept without a subscriber.
pub(crate) fn http_keep_until() -> Option<Instant> {
    Some(Instant::now() + HTTP_KEEP_ALIVE)
}

struct Group<F> {
    frames: watch::Sender<Arc<F>>,
    read_until: Option<Instant>,
}

/// The groups of one kind, by key.
pub(crate) struct Groups<K, F> {
    groups: Mutex<HashMap<K, Group<F>>>,
}

impl<K: Eq + Hash + Clone, F> Groups<K, F> {
    pub(crate) fn new() -> Self {
        Self {
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// The frames of group `key` if it exists; `keep_until` extends how
    /// long HTTP readers keep it.
    pub(crate) fn get(&self, key: &K, keep_until: Option<Instant>) -> Option<watch::Sender<Arc<F>>> {
        self.lock().get_mut(key).map(|group| group.keep(keep_until))
    }

    /// The frames of group `key`, made with `first` unless another reader
    /// made it meanwhile.
    pub(crate) fn insert(&self, key: K, first: Arc<F>, keep_until: Option<Instant>) -> watch::Sender<Arc<F>> {
        let mut groups = self.lock();
        let group = groups.entry(key).or_insert_with(|| Group {
            frames: watch::channel(first).0,
            read_until: None,
        });
        group.keep(keep_until)
    }

    /// Forgets the groups nobody watches or read lately; the others, for
    /// the tick to refresh.
    pub(crate) fn live(&self) -> Vec<(K, watch::Sender<Arc<F>>)> {
        let mut groups = self.lock();
        let now = Instant::now();
        groups.retain(|_, g| g.frames.receiver_count() > 0 || g.read_until.is_some_and(|t| t > now));
        groups.iter().map(|(k, g)| (k.clone(), g.frames.clone())).collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Group<F>>> {
        // Every update is one insert or retain: a panic under the lock
        // cannot leave the map half-updated, so the data stays usable.
        self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<F> Group<F> {
    fn keep(&mut self, keep_until: Option<Instant>) -> watch::Sender<Arc<F>> {
        if keep_until.is_some() {
            self.read_until = keep_until;
        }
        self.frames.clone()
    }
}
