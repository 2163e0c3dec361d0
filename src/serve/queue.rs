//! `serve`'s in-process job queue, with the SQS FIFO queue's guarantees:
//! jobs of one message group (repo + ref) run one after another, in
//! arrival order; groups run in parallel, up to a limit; and a job whose
//! deduplication id was seen in the last five minutes is dropped.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use git2s3_lambda::queue::{JobQueue, QueueError};
use git2s3_lambda::Job;
use tokio::sync::{mpsc, Semaphore};

/// SQS FIFO's deduplication window.
pub const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(300);

type Runner = Arc<dyn Fn(Job) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

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
    run: Runner,
}

impl MemoryQueue {
    /// A queue whose jobs are handed to `run`, at most `parallel` at once.
    pub fn new<F, Fut>(parallel: usize, run: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let run: Runner = Arc::new(move |job| Box::pin(run(job)));
        MemoryQueue {
            inner: Arc::new(Inner {
                seen: Mutex::new(HashMap::new()),
                groups: Mutex::new(HashMap::new()),
                permits: Arc::new(Semaphore::new(parallel.max(1))),
                pending: Arc::new(AtomicUsize::new(0)),
                run,
            }),
        }
    }

    /// Jobs queued or running.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
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
                let (permits, pending, run) = (
                    self.inner.permits.clone(),
                    self.inner.pending.clone(),
                    self.inner.run.clone(),
                );
                tokio::spawn(async move {
                    while let Some(job) = rx.recv().await {
                        let permit = permits
                            .acquire()
                            .await
                            .expect("the semaphore is never closed");
                        // A job of its own task: a panic fails that job
                        // only, and the branch's later jobs still run.
                        let (repo, git_ref, delivery) = (
                            job.repo.clone(),
                            job.git_ref.clone(),
                            job.delivery_id.clone(),
                        );
                        if let Err(e) = tokio::spawn(run(job)).await {
                            tracing::error!(
                                %repo, %git_ref, %delivery, error = %e,
                                "job failed: the worker panicked; the branch's next jobs still run"
                            );
                        }
                        drop(permit);
                        pending.fetch_sub(1, Ordering::SeqCst);
                    }
                });
                tx
            })
            .clone()
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

    /// A job that panicked used to end its branch's task: later jobs for
    /// that branch got 503, and `pending_jobs` never drained.
    #[tokio::test]
    async fn a_job_that_panics_fails_alone_and_the_branch_goes_on() {
        let done = Arc::new(Mutex::new(Vec::new()));
        let sink = done.clone();
        let queue = MemoryQueue::new(2, move |job: Job| {
            let sink = sink.clone();
            async move {
                if job.commit.starts_with('a') {
                    panic!("a bug in the worker");
                }
                sink.lock().unwrap().push(job.delivery_id.clone());
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
        let queue = MemoryQueue::new(4, move |job: Job| {
            let sink = sink.clone();
            async move {
                // Later jobs would overtake earlier ones if the group ran in parallel.
                let delay = if job.commit.starts_with('a') { 50 } else { 0 };
                tokio::time::sleep(Duration::from_millis(delay)).await;
                sink.lock()
                    .unwrap()
                    .push((job.git_ref.clone(), job.commit.chars().next().unwrap()));
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
