//! A configuration read from Secrets Manager that a warm container reads
//! again: once it is older than its time to live
//! (`GIT2S3_SECRET_TTL_SECONDS`, default 300), and at once when what it
//! holds was just refused (a webhook signed with a secret it does not
//! know yet, a deploy key the Git server no longer accepts), but never
//! more often than every [`EARLY_RELOAD_FLOOR`] for refusals. So `git2s3 rotate` takes
//! effect on the next request, with no redeploy, and a stream of forged
//! requests costs at most one secret read per floor.
//!
//! If reading fails, the last good configuration stays in use, and it is
//! read again a time to live later. The first failure is logged as a
//! warning, the ones after it (Secrets Manager still down) only at debug,
//! and the read that works again says how many failed.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::config::ConfigError;

/// The shortest time between two reads, whatever was refused.
pub const EARLY_RELOAD_FLOOR: Duration = Duration::from_secs(10);

/// The time to live: `GIT2S3_SECRET_TTL_SECONDS`, default 300.
pub fn ttl_from_env() -> Duration {
    let seconds = std::env::var("GIT2S3_SECRET_TTL_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(300);
    Duration::from_secs(seconds)
}

/// A configuration, and how to read it again.
pub struct Reloading<T, L> {
    load: L,
    ttl: Duration,
    floor: Duration,
    current: Mutex<Slot<T>>,
}

struct Slot<T> {
    config: Arc<T>,
    read_at: Instant,
    /// When a refusal last made it read, if ever.
    refused_at: Option<Instant>,
    /// Reads that failed since the last one that worked.
    failed_reads: u32,
}

impl<T, L, F> Reloading<T, L>
where
    L: Fn() -> F,
    F: Future<Output = Result<T, ConfigError>>,
{
    /// Starts from `first`, read just now.
    pub fn new(first: T, load: L, ttl: Duration) -> Self {
        Reloading {
            load,
            ttl,
            floor: EARLY_RELOAD_FLOOR,
            current: Mutex::new(Slot {
                config: Arc::new(first),
                read_at: Instant::now(),
                refused_at: None,
                failed_reads: 0,
            }),
        }
    }

    /// The configuration to answer the next request with.
    pub async fn get(&self) -> Arc<T> {
        let mut slot = self.current.lock().await;
        if slot.read_at.elapsed() >= self.ttl {
            self.reload(&mut slot).await;
        }
        slot.config.clone()
    }

    /// `used` was refused: a newer configuration if there is one (read
    /// now, or by another request since), else `None`.
    pub async fn refused(&self, used: &Arc<T>) -> Option<Arc<T>> {
        let mut slot = self.current.lock().await;
        if !Arc::ptr_eq(&slot.config, used) {
            return Some(slot.config.clone());
        }
        if slot.refused_at.is_some_and(|at| at.elapsed() < self.floor) {
            return None;
        }
        slot.refused_at = Some(Instant::now());
        self.reload(&mut slot).await.then(|| slot.config.clone())
    }

    async fn reload(&self, slot: &mut Slot<T>) -> bool {
        // Success or not, the next read is a time to live away: if
        // Secrets Manager is down, every request must not wait on it.
        slot.read_at = Instant::now();
        match (self.load)().await {
            Ok(config) => {
                slot.config = Arc::new(config);
                if slot.failed_reads > 0 {
                    tracing::info!(
                        failed_reads = slot.failed_reads,
                        "read the secrets again; the reads before this one had failed"
                    );
                }
                slot.failed_reads = 0;
                true
            }
            Err(e) => {
                if slot.failed_reads == 0 {
                    tracing::warn!(
                        error = %e,
                        "could not read the secrets again; keeping the last ones until a read works"
                    );
                } else {
                    tracing::debug!(error = %e, failed_reads = slot.failed_reads + 1, "still cannot read the secrets");
                }
                slot.failed_reads += 1;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn counter(
        reads: &AtomicU32,
    ) -> impl Fn() -> std::future::Ready<Result<u32, ConfigError>> + '_ {
        move || std::future::ready(Ok(reads.fetch_add(1, Ordering::SeqCst) + 1))
    }

    #[tokio::test]
    async fn a_fresh_configuration_is_not_read_again() {
        let reads = AtomicU32::new(0);
        let state = Reloading::new(0, counter(&reads), Duration::from_secs(300));
        assert_eq!(*state.get().await, 0);
        assert_eq!(reads.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_expired_configuration_is_read_again() {
        let reads = AtomicU32::new(0);
        let state = Reloading::new(0, counter(&reads), Duration::ZERO);
        assert_eq!(*state.get().await, 1);
        assert_eq!(*state.get().await, 2);
    }

    #[tokio::test]
    async fn a_refusal_reads_again_once_per_floor() {
        let reads = AtomicU32::new(0);
        let state = Reloading::new(0, counter(&reads), Duration::from_secs(300));
        // Just started: the first refusal reads at once.
        let used = state.get().await;
        let fresh = state.refused(&used).await.expect("read again");
        assert_eq!(*fresh, 1);
        // A second request refused with the old one gets the new one, unread.
        assert_eq!(*state.refused(&used).await.unwrap(), 1);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Within the floor, a refusal reads nothing.
        assert!(state.refused(&fresh).await.is_none());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_read_keeps_the_last_configuration() {
        let state = Reloading::new(
            7,
            || std::future::ready(Err(ConfigError::Missing("GIT2S3_QUEUE_URL"))),
            Duration::ZERO,
        );
        assert_eq!(*state.get().await, 7);
    }
}
