//! Background work on a period (the hub's tick, alert detection, forgetting
//! idle rate limits), stopped by the shutdown token, and reads retried until
//! they answer. Not a step of the data flow: the steps use it to run.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Runs `work` every `period` (the first time at once) until `shutdown`.
/// A run that overruns delays the next one instead of bunching them up.
pub fn spawn_every<F, Fut>(period: Duration, shutdown: CancellationToken, mut work: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = interval.tick() => work().await,
            }
        }
    })
}

/// How long to wait between reads that keep failing: `first`, doubling up
/// to `longest`.
#[derive(Debug, Clone, Copy)]
pub struct Pauses {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub longest: Duration,
    /// Whether each wait is shortened by a random part of up to half, so
    /// that many readers that failed together do not come back together.
    pub jittered: bool,
}

/// Reads with `read` until it answers, waiting by `pauses` after each
/// failure: for a reader that must not skip what it could not read.
/// `what` names the read in the log.
pub async fn until_ok<T, E, F>(what: &'static str, pauses: Pauses, mut read: impl FnMut() -> F) -> T
where
    E: std::fmt::Display,
    F: Future<Output = Result<T, E>>,
{
    let mut wait = pauses.first;
    loop {
        match read().await {
            Ok(value) => return value,
            Err(error) => {
                let pause = if pauses.jittered {
                    wait - wait.mul_f64(rand::random::<f64>() / 2.0)
                } else {
                    wait
                };
                tracing::warn!(%error, what, retry_in = ?pause, "reading failed; reading again");
                tokio::time::sleep(pause).await;
                wait = (wait * 2).min(pauses.longest);
            }
        }
    }
}
