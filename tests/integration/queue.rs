//! The receiver's SQS FIFO queue, against moto's SQS: jobs arrive in
//! their repo+ref message group, and a redelivered webhook is dropped by
//! the deduplication id.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use git2s3_lambda::queue::{JobQueue, SqsQueue};
use git2s3_lambda::{Job, Method, Provider};

use crate::moto::moto;

fn job(delivery: &str, git_ref: &str, commit: char) -> Job {
    Job {
        provider: Provider::Generic,
        method: Method::GitPull,
        repo: "acme/api".into(),
        git_ref: git_ref.into(),
        commit: commit.to_string().repeat(40),
        ssh_url: Some("ssh://git@127.0.0.1:2222/acme/api.git".into()),
        project_id: None,
        delivery_id: delivery.into(),
        pusher: Some("alice".into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_are_grouped_by_ref_and_redeliveries_dropped() {
    let config = moto().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name("queue-test-jobs.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue = SqsQueue::new(sqs.clone(), &url);

    let first = job("delivery-1", "refs/heads/main", 'a');
    queue.enqueue(&first).await.unwrap();
    queue.enqueue(&first).await.unwrap(); // the provider redelivers
    queue
        .enqueue(&job("delivery-2", "refs/heads/main", 'b'))
        .await
        .unwrap();
    queue
        .enqueue(&job("delivery-2", "refs/tags/v1", 'b'))
        .await
        .unwrap();

    let mut received = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let parsed: Job = serde_json::from_str(m.body().unwrap()).unwrap();
            let group =
                m.attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId].clone();
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            received.push((parsed, group));
        }
        if received.len() >= 3 {
            break;
        }
    }
    assert_eq!(
        received.len(),
        3,
        "the redelivery must be dropped: {received:?}"
    );
    let main: Vec<_> = received
        .iter()
        .filter(|(j, _)| j.git_ref == "refs/heads/main")
        .collect();
    assert_eq!(main.len(), 2);
    assert_eq!(
        main[0].0.commit,
        "a".repeat(40),
        "pushes to one branch arrive in order"
    );
    assert_eq!(main[1].0.commit, "b".repeat(40));
    assert!(main.iter().all(|(j, g)| *g == j.group_id()));
    let tag = received
        .iter()
        .find(|(j, _)| j.git_ref == "refs/tags/v1")
        .unwrap();
    assert_ne!(tag.1, main[0].1, "a tag is its own message group");
    assert_eq!(tag.0, job("delivery-2", "refs/tags/v1", 'b'));
}
