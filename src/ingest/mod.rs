//! Ingest: parse → validate → bucket → hand to the engine.
//!
//! This is the one door into the counts for located items, whatever brought
//! them: the posts API and the demo player send posts through
//! [`Ingestor::ingest`], and citizen and field reports, validated by their
//! own domain type, are counted and taken out again through
//! [`Ingestor::count`] and [`Ingestor::uncount`]. A new kind of item
//! (Open311, METHANE) implements [`Located`] and comes through the same
//! door, so the bucketing rules hold for every path. It may touch the
//! engine's write side only.

mod bucket;
mod parse;
mod write;

use std::sync::Arc;

use chrono::{Duration, Utc};

pub use bucket::{Bucketer, Located};
pub use parse::{BodyError, BodyFormat, MAX_BATCH_ITEMS, split_items};
pub use write::{WriteId, write_identity};

use crate::domain::{FieldError, Post, PostRules, PostText, RawPost};
use crate::engine::{Bucketed, Engine, EngineError, IngestOutcome};
use crate::privacy::AuthorHasher;
use crate::telemetry::metric;

/// An item of a batch that was refused, by its position in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 0-based position of the item in the batch.
    pub index: usize,
    /// Why.
    pub error: FieldError,
}

/// What became of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Items the engine stored and counted.
    pub accepted: u64,
    /// Items already seen (same `source` and `id` within retention).
    pub duplicates: u64,
    /// Items refused, with the reason.
    pub rejected: Vec<Rejection>,
}

/// Validates items, buckets them and stores them in the engine.
pub struct Ingestor {
    engine: Arc<dyn Engine>,
    bucketer: Bucketer,
    hasher: AuthorHasher,
    retention: Duration,
}

impl Ingestor {
    /// Builds the ingest path over `engine`.
    pub fn new(engine: Arc<dyn Engine>, bucketer: Bucketer, hasher: AuthorHasher, retention: Duration) -> Self {
        Self {
            engine,
            bucketer,
            hasher,
            retention,
        }
    }

    /// Validates every item, keeps the good ones and stores them.
    ///
    /// Either the engine stored every valid item, or the call fails and the
    /// caller must not acknowledge any of them. `write` names the request:
    /// only a retry under the same [`WriteId`] is recognised as one.
    pub async fn ingest(
        &self,
        items: Vec<Result<RawPost<'_>, FieldError>>,
        write: &WriteId,
    ) -> Result<IngestReport, EngineError> {
        let rules = PostRules {
            now: write.at(),
            retention: self.retention,
        };
        let mut posts = Vec::with_capacity(items.len());
        let mut rejected = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            match item.and_then(|raw| Post::parse(&raw, rules, &self.hasher)) {
                Ok(mut post) => {
                    if post.own_contributor {
                        post.contributor = write.own_contributor(index);
                    }
                    post.fingerprint = write.fingerprint(post.fingerprint);
                    posts.push(post);
                }
                Err(error) => {
                    metrics::counter!(metric::POSTS_REJECTED, "code" => error.code).increment(1);
                    rejected.push(Rejection { index, error });
                }
            }
        }
        let outcome = self.store(&posts, write.at().timestamp()).await?;
        Ok(IngestReport {
            accepted: outcome.accepted,
            duplicates: outcome.duplicates,
            rejected,
        })
    }

    /// How items are bucketed.
    pub fn bucketer(&self) -> &Bucketer {
        &self.bucketer
    }

    /// Counts validated items that name their own writes and carry the
    /// time they count at (a report's count change, named by its id and
    /// version, in the bucket fixed when it was taken). Counted at that
    /// time, whatever this node's clock says, so that a moderation on a
    /// node whose clock is behind changes the same bucket. Posts go through
    /// [`Ingestor::ingest`] instead, which names them by their request and
    /// keeps their metrics.
    pub async fn count(&self, items: &[impl Located], now: i64) -> Result<IngestOutcome, EngineError> {
        let batch: Vec<Bucketed> = items.iter().map(|item| self.bucketer.bucket_as_stamped(item)).collect();
        self.engine.ingest(&batch, now).await
    }

    /// Takes an item counted by [`Ingestor::count`] out of the counts again,
    /// from the same bucket and once however often it is asked: the engines
    /// remember its fingerprint.
    pub async fn uncount(&self, item: &impl Located, now: i64) -> Result<(), EngineError> {
        self.engine.uncount(&self.bucketer.bucket_as_stamped(item), now).await
    }

    /// Buckets already validated posts, written at `at` (a post stamped
    /// later, by clock skew, counts then), and stores them.
    pub async fn store(&self, posts: &[Post], at: i64) -> Result<IngestOutcome, EngineError> {
        if posts.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let now = Utc::now().timestamp();
        let batch: Vec<Bucketed> = posts
            .iter()
            .map(|p| {
                let mut item = self.bucketer.bucket(p, at.min(now));
                let counted_at = Bucketer::counts_at(p, at.min(now));
                item.text = PostText::of(p, counted_at).map(|t| Arc::from(t.to_body()));
                item
            })
            .collect();
        let outcome = self.engine.ingest(&batch, now).await?;
        metrics::counter!(metric::POSTS_ACCEPTED).increment(outcome.accepted);
        metrics::counter!(metric::POSTS_DUPLICATE).increment(outcome.duplicates);
        Ok(outcome)
    }
}
