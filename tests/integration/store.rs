//! The worker's S3 store against moto's S3: the final write is conditional
//! on the object the job began with (If-Match, or If-None-Match: * for a
//! new key), on PutObject and on CompleteMultipartUpload.
//!
//! moto checks If-Match and If-None-Match on PutObject, and If-None-Match
//! on CompleteMultipartUpload, but not If-Match there: that case is tested
//! over the storage trait (`lambda/src/worker.rs`,
//! `an_upload_conditional_on_a_replaced_object_is_refused`).

use git2s3_lambda::parts::{Part, PART_BYTES};
use git2s3_lambda::store::{ObjectMeta, Replaces, Store, StoreError};
use tokio::sync::mpsc;

use crate::moto::moto;

fn meta(commit: &str) -> ObjectMeta {
    ObjectMeta {
        commit: commit.repeat(40),
        git_ref: "refs/heads/main".into(),
        repo: "acme/api".into(),
        provider: "generic".into(),
        delivery_id: "d".into(),
        pusher: None,
        summary: None,
    }
}

async fn upload(
    store: &Store,
    commit: &str,
    bytes: usize,
    replaces: &Replaces,
) -> Result<(), StoreError> {
    let (tx, rx) = mpsc::channel(4);
    // Each commit's bytes differ, as its zip's would (an ETag is their MD5).
    let byte = commit.as_bytes()[0];
    let sender = tokio::spawn(async move {
        let mut left = bytes;
        while left > 0 {
            let n = left.min(PART_BYTES);
            tx.send(Part::Data(vec![byte; n].into())).await.unwrap();
            left -= n;
        }
        tx.send(Part::End).await.unwrap();
    });
    let result = store
        .upload("acme/api/main/acme_api.zip", &meta(commit), rx, replaces)
        .await;
    sender.await.unwrap();
    result.map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_final_write_is_conditional_on_the_object_the_job_began_with() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    crate::moto::versioned_bucket(&s3, "store-conditional").await;
    let store = Store::new(s3, "store-conditional");
    let key = "acme/api/main/acme_api.zip";

    // A new key: written once; a second writer that also saw none loses.
    upload(&store, "a", 100, &Replaces::Nothing).await.unwrap();
    let lost = upload(&store, "b", 100, &Replaces::Nothing)
        .await
        .unwrap_err();
    assert!(matches!(lost, StoreError::Replaced { .. }), "{lost}");

    // An existing key: written over the object read; a writer holding an
    // older read loses, and the newer zip stays.
    let first = store.current(key).await.unwrap().unwrap();
    upload(&store, "c", 100, &Replaces::current(Some(&first)))
        .await
        .unwrap();
    let lost = upload(&store, "d", 100, &Replaces::current(Some(&first)))
        .await
        .unwrap_err();
    assert!(matches!(lost, StoreError::Replaced { .. }), "{lost}");
    assert_eq!(
        store.current_commit(key).await.unwrap(),
        Some("c".repeat(40))
    );

    // The multipart path (two parts and more): If-None-Match on
    // CompleteMultipartUpload, and the unfinished upload is aborted.
    let lost = upload(&store, "e", PART_BYTES * 2 + 1, &Replaces::Nothing)
        .await
        .unwrap_err();
    assert!(matches!(lost, StoreError::Replaced { .. }), "{lost}");
    assert_eq!(
        store.current_commit(key).await.unwrap(),
        Some("c".repeat(40))
    );
}
