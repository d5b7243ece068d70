//! Background work on a period (the hub's tick, alert detection, forgetting
//! idle rate limits), stopped by the shutdown token. Not a step of the data
//! flow: the steps use it to run.

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
