//! Idempotency records: claimed, completed once, replayed, taken over after a lease runs out, found across a key rotation.

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::*;
use crate::common::Backend;
use crate::common::stores::open_store;

fn claim(
    key: &[u8],
    request: &[u8],
    at_: DateTime<Utc>,
    lease: Uuid,
) -> hbx_service_accounts::store::IdempotencyClaim {
    use hbx_service_accounts::store::{IdempotencyClaim, IdempotencyKeyMac};
    IdempotencyClaim {
        keys: vec![IdempotencyKeyMac {
            key_version: 2,
            key_mac: key.to_vec(),
            request_mac: request.to_vec(),
        }],
        operation: "create_service_account".to_owned(),
        at: at_,
        expires_at: at_ + TimeDelta::hours(24),
        lease,
        lease_expires_at: at_ + TimeDelta::minutes(1),
    }
}

/// An idempotency record: the first claim runs, a second waits (in use) or
/// is refused (another request), a completed one answers, an attempt that
/// outlived its lease is taken over (and cannot complete any more), a
/// released one runs again, and expired ones are deleted.
async fn idempotency_records_run_once(backend: Backend) {
    use hbx_service_accounts::store::{Claimed, IdempotentCompletion, SealedResponse};
    let (store, _guard) = open_store(backend).await;
    let now = at("2030-03-01T00:00:00Z");
    let (key, request) = (b"key-mac-1".as_slice(), b"request-mac-1".as_slice());
    let first = Uuid::new_v4();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, request, now, first))
            .await
            .unwrap(),
        Claimed::Run
    );
    let second = Uuid::new_v4();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, request, now + TimeDelta::seconds(1), second))
            .await
            .unwrap(),
        Claimed::InUse
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, b"another request", now, second))
            .await
            .unwrap(),
        Claimed::Reused
    );
    let response = SealedResponse {
        status: 201,
        sealed: vec![1, 2, 3],
    };
    let completion = |lease| IdempotentCompletion {
        key_mac: key.to_vec(),
        lease,
        response: response.clone(),
    };
    assert!(
        !store
            .complete_idempotency_key(&completion(second))
            .await
            .unwrap(),
        "not its lease"
    );
    assert!(
        store
            .complete_idempotency_key(&completion(first))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, request, now + TimeDelta::hours(1), second))
            .await
            .unwrap(),
        Claimed::Done {
            key_version: 2,
            response: response.clone()
        }
    );
    assert!(
        !store
            .complete_idempotency_key(&completion(first))
            .await
            .unwrap(),
        "once"
    );

    // An attempt that died: after its lease, another takes over.
    let (dead_key, dead) = (b"key-mac-2".as_slice(), Uuid::new_v4());
    assert_eq!(
        store
            .claim_idempotency_key(&claim(dead_key, request, now, dead))
            .await
            .unwrap(),
        Claimed::Run
    );
    let heir = Uuid::new_v4();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(dead_key, request, now + TimeDelta::minutes(2), heir))
            .await
            .unwrap(),
        Claimed::Run
    );
    let late = IdempotentCompletion {
        key_mac: dead_key.to_vec(),
        ..completion(dead)
    };
    assert!(
        !store.complete_idempotency_key(&late).await.unwrap(),
        "the dead lease lost"
    );
    let heirs = IdempotentCompletion {
        key_mac: dead_key.to_vec(),
        ..completion(heir)
    };
    assert!(store.complete_idempotency_key(&heirs).await.unwrap());

    // Released (a 5xx): the next claim runs.
    let (released_key, lease) = (b"key-mac-3".as_slice(), Uuid::new_v4());
    store
        .claim_idempotency_key(&claim(released_key, request, now, lease))
        .await
        .unwrap();
    store
        .release_idempotency_key(released_key, lease)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(released_key, request, now, Uuid::new_v4()))
            .await
            .unwrap(),
        Claimed::Run
    );

    // Past the retention: gone, and the key runs anew.
    assert_eq!(store.delete_expired_idempotency_keys(now).await.unwrap(), 0);
    let after = now + TimeDelta::hours(25);
    assert_eq!(
        store.delete_expired_idempotency_keys(after).await.unwrap(),
        3
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, request, after, Uuid::new_v4()))
            .await
            .unwrap(),
        Claimed::Run
    );
}

/// A record made under an older server key version is still found (and
/// answered under that version) when the claim lists the current key first.
async fn an_idempotency_record_survives_a_key_rotation(backend: Backend) {
    use hbx_service_accounts::store::{
        Claimed, IdempotencyKeyMac, IdempotentCompletion, SealedResponse,
    };
    let (store, _guard) = open_store(backend).await;
    let now = at("2030-03-01T00:00:00Z");
    let lease = Uuid::new_v4();
    let old = claim(b"under-v2", b"request-under-v2", now, lease);
    store.claim_idempotency_key(&old).await.unwrap();
    let response = SealedResponse {
        status: 200,
        sealed: vec![7; 40],
    };
    assert!(
        store
            .complete_idempotency_key(&IdempotentCompletion {
                key_mac: b"under-v2".to_vec(),
                lease,
                response: response.clone(),
            })
            .await
            .unwrap()
    );
    let mut rotated = claim(b"under-v3", b"request-under-v3", now, Uuid::new_v4());
    rotated.keys[0].key_version = 3;
    rotated.keys.push(IdempotencyKeyMac {
        key_version: 2,
        key_mac: b"under-v2".to_vec(),
        request_mac: b"request-under-v2".to_vec(),
    });
    assert_eq!(
        store.claim_idempotency_key(&rotated).await.unwrap(),
        Claimed::Done {
            key_version: 2,
            response
        }
    );
}

on_every_store!(
    idempotency_records_run_once,
    an_idempotency_record_survives_a_key_rotation,
);
