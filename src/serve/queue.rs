//! `serve`'s in-process job queue, with the SQS FIFO queue's guarantees:
//! jobs of one message group (repo + ref) run one after another, in
//! arrival order; groups run in parallel, up to a limit; a job whose
//! deduplication id was seen in the last five minutes is dropped; and a
//! job that fails is tried again after a delay, up to a number of tries
//! (SQS's visibility timeout and `maxReceiveCount`), then set aside in a
//! dead-letter list with its reason. A group waits while its job does, as
//! a FIFO message group does.
//!
//! The queue is in memory: a `serve` that is killed loses what it holds
//! (the sweep, `--sweep-every`, builds those refs later).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use git2s3_lambda::queue::{JobQueue, QueueError};
use git2s3_lambda::Job;
use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};

/// SQS FIFO's deduplication window.
pub const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(300);

/// One try of a job: `Err` holds why it failed, for the log and the
/// dead-letter list.
type Runner = Arc<
    dyn Fn(Job) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync,
>;

/// How often a failed job is tried, and how long apart.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Tries in all, the first included (the stack's `maxReceiveCount` is 3).
    pub attempts: u32,
    /// The wait before each next try.
    pub delay: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            attempts: 3,
            delay: Duration::from_secs(10),
        }
    }
}

/// A job that failed every try, as `GET /dead-letters` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeadLetter {
    pub repo: String,
    pub git_ref: String,
    pub commit: String,
    pub delivery: String,
    pub attempts: u32,
    /// The last try's error.
    pub reason: String,
}

/// The queue, and the workers that drain it.
#[derive(Clone)]
pub struct MemoryQueue {
    inner: Arc<Inner>,
}

struct Inner {
    seen: Mutex<HashMap<String, Instant>>,
    groups: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
    permits: Arc<Semaphore>,
    pending: Arc<AtomicUsize>,
    dead: Arc<Mutex<Vec<DeadLetter>>>,
    retries: Retries,
    run: Runner,
}

impl MemoryQueue {
    /// A queue whose jobs are handed to `run`, at most `parallel` at once,
    /// each tried as `retries` says.
    pub fn new<F, Fut>(parallel: usize, retries: Retries, run: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let run: Runner = Arc::new(move |job| Box::pin(run(job)));
        MemoryQueue {
            inner: Arc::new(Inner {
                seen: Mutex::new(HashMap::new()),
                groups: Mutex::new(HashMap::new()),
                permits: Arc::new(Semaphore::new(parallel.max(1))),
                pending: Arc::new(AtomicUsize::new(0)),
                dead: Arc::new(Mutex::new(Vec::new())),
                retries: Retries {
                    attempts: retries.attempts.max(1),
                    ..retries
                },
                run,
            }),
        }
    }

    /// Jobs queued or running (a job waiting for its next try counts).
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
    }

    /// How many jobs failed every try.
    pub fn dead_letter_count(&self) -> usize {
        self.inner.dead.lock().expect("queue lock").len()
    }

    /// The jobs that failed every try, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.inner.dead.lock().expect("queue lock").clone()
    }

    /// Waits until no job is queued or running, or `timeout` passes;
    /// returns how many are left.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        while self.pending() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.pending()
    }

    fn group_sender(&self, group: String) -> mpsc::UnboundedSender<Job> {
        let mut groups = self.inner.groups.lock().expect("queue lock");
        groups
            .entry(group)
            .or_insert_with(|| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
                let inner = self.inner.clone();
                tokio::spawn(async move {
                    while let Some(job) = rx.recv().await {
                        inner.run_with_retries(job).await;
                        inner.pending.fetch_sub(1, Ordering::SeqCst);
                    }
                });
                tx
            })
            .clone()
    }
}

impl Inner {
    /// Tries `job` until it succeeds or its tries run out, holding a
    /// permit only while it runs; then, if it never succeeded, sets it
    /// aside with the last reason.
    async fn run_with_retries(&self, job: Job) {
        let (repo, git_ref, delivery) = (
            job.repo.clone(),
            job.git_ref.clone(),
            job.delivery_id.clone(),
        );
        let attempts = self.retries.attempts;
        let mut reason = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(self.retries.delay).await;
            }
            let permit = self
                .permits
                .acquire()
                .await
                .expect("the semaphore is never closed");
            // A try of its own task: a panic fails that try only, and the
            // branch's later jobs still run.
            let outcome = tokio::spawn((self.run)(job.clone())).await;
            drop(permit);
            reason = match outcome {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e,
                Err(e) => format!("the worker panicked: {e}"),
            };
            if attempt < attempts {
                tracing::warn!(
                    %repo, %git_ref, %delivery, attempt, attempts, error = %reason,
                    retry_in = ?self.retries.delay, "job will be tried again"
                );
            }
        }
        tracing::error!(
            %repo, %git_ref, %delivery, attempts, error = %reason,
            "job dead-lettered: it failed every try; fix the cause, then push again or run \
             `git2s3 sync` (GET /dead-letters lists these)"
        );
        self.dead.lock().expect("queue lock").push(DeadLetter {
            repo,
            git_ref,
            commit: job.commit.clone(),
            delivery,
            attempts,
            reason,
        });
    }
}

impl JobQueue for MemoryQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        {
            let mut seen = self.inner.seen.lock().expect("queue lock");
            let now = Instant::now();
            seen.retain(|_, at| now.duration_since(*at) < DEDUPLICATION_WINDOW);
            if seen.contains_key(&job.deduplication_id()) {
                tracing::info!(delivery = %job.delivery_id, git_ref = %job.git_ref, "duplicate delivery dropped");
                return Ok(());
            }
            seen.insert(job.deduplication_id(), now);
        }
        self.inner.pending.fetch_add(1, Ordering::SeqCst);
        self.group_sender(job.group_id())
            .send(job.clone())
            .map_err(|_| QueueError::new(job, "the worker stopped"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2s3_lambda::{Method, Provider};

    fn job(delivery: &str, git_ref: &str, commit: char) -> Job {
        Job {
            provider: Provider::Generic,
            method: Method::GitPull,
            repo: "acme/api".into(),
            git_ref: git_ref.into(),
            commit: commit.to_string().repeat(40),
            ssh_url: None,
            project_id: None,
            delivery_id: delivery.into(),
            pusher: None,
        }
    }

    const QUICK: Retries = Retries {
        attempts: 2,
        delay: Duration::from_millis(10),
    };

    /// A failed try is tried again, after the delay and before the
    /// branch's next job; one that fails every try is set aside with the
    /// last reason, and the branch goes on.
    #[tokio::test]
    async fn a_failed_job_is_tried_again_then_dead_lettered_and_its_branch_waits() {
        let tries = Arc::new(Mutex::new(Vec::new()));
        let sink = tries.clone();
        let retries = Retries {
            attempts: 3,
            delay: Duration::from_millis(20),
        };
        let queue = MemoryQueue::new(2, retries, move |job: Job| {
            let sink = sink.clone();
            async move {
                let mut tries = sink.lock().unwrap();
                tries.push(job.delivery_id.clone());
                let n = tries.iter().filter(|d| **d == job.delivery_id).count();
                match job.commit.chars().next() {
                    // Fails once, then works.
                    Some('a') if n == 1 => Err("S3 was down".to_string()),
                    // Never works.
                    Some('b') => Err(format!("timed out, try {n}")),
                    _ => Ok(()),
                }
            }
        });
        for (delivery, commit) in [("d1", 'a'), ("d2", 'b'), ("d3", 'c')] {
            queue
                .enqueue(&job(delivery, "refs/heads/main", commit))
                .await
                .unwrap();
        }
        assert_eq!(queue.drain(Duration::from_secs(5)).await, 0);
        assert_eq!(
            *tries.lock().unwrap(),
            ["d1", "d1", "d2", "d2", "d2", "d3"],
            "each job's tries come before the branch's next job"
        );
        assert_eq!(
            queue.dead_letters(),
            [DeadLetter {
                repo: "acme/api".into(),
                git_ref: "refs/heads/main".into(),
                commit: "b".repeat(40),
                delivery: "d2".into(),
                attempts: 3,
                reason: "timed out, try 3".into(),
            }]
        );
    }

    /// A job that panicked used to end its branch's task: later jobs for
    /// that branch got 503, and `pending_jobs` never drained.
    #[tokio::test]
    async fn a_job_that_panics_fails_alone_and_the_branch_goes_on() {
        let done = Arc::new(Mutex::new(Vec::new()));
        let sink = done.clone();
        let queue = MemoryQueue::new(2, QUICK, move |job: Job| {
            let sink = sink.clone();
            async move {
                if job.commit.starts_with('a') {
                    panic!("a bug in the worker");
                }
                sink.lock().unwrap().push(job.delivery_id.clone());
                Ok(())
            }
        });
        queue
            .enqueue(&job("d1", "refs/heads/main", 'a'))
            .await
            .unwrap();
        queue
            .enqueue(&job("d2", "refs/heads/main", 'b'))
            .await
            .unwrap();
        assert_eq!(queue.drain(Duration::from_secs(5)).await, 0);
        assert_eq!(*done.lock().unwrap(), ["d2"]);
        let dead = queue.dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].delivery.as_str(), dead[0].attempts), ("d1", 2));
        assert!(dead[0].reason.contains("panicked"), "{}", dead[0].reason);
        queue
            .enqueue(&job("d3", "refs/heads/main", 'c'))
            .await
            .unwrap();
        assert_eq!(queue.drain(Duration::from_secs(5)).await, 0);
        assert_eq!(*done.lock().unwrap(), ["d2", "d3"]);
    }

    #[tokio::test]
    async fn one_group_runs_in_order_and_duplicates_are_dropped() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let queue = MemoryQueue::new(4, QUICK, move |job: Job| {
            let sink = sink.clone();
            async move {
                // Later jobs would overtake earlier ones if the group ran in parallel.
                let delay = if job.commit.starts_with('a') { 50 } else { 0 };
                tokio::time::sleep(Duration::from_millis(delay)).await;
                sink.lock()
                    .unwrap()
                    .push((job.git_ref.clone(), job.commit.chars().next().unwrap()));
                Ok(())
            }
        });
        queue
            .enqueue(&job("d1", "refs/heads/main", 'a'))
            .await
            .unwrap();
        queue
            .enqueue(&job("d1", "refs/heads/main", 'a'))
            .await
            .unwrap();
        queue
            .enqueue(&job("d2", "refs/heads/main", 'b'))
            .await
            .unwrap();
        queue
            .enqueue(&job("d2", "refs/heads/dev", 'c'))
            .await
            .unwrap();
        assert_eq!(queue.drain(Duration::from_secs(5)).await, 0);
        let log = log.lock().unwrap().clone();
        let main: Vec<char> = log
            .iter()
            .filter(|(r, _)| r == "refs/heads/main")
            .map(|(_, c)| *c)
            .collect();
        assert_eq!(main, vec!['a', 'b']);
        assert_eq!(log.len(), 3, "the duplicate ran: {log:?}");
        // dev did not wait for main's slow job.
        assert_eq!(log[0], ("refs/heads/dev".to_string(), 'c'));
    }
}
