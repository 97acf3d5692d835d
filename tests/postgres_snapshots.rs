//! Snapshots in `PostgreSQL`: a start from one matches a full replay; a
//! body altered in the database, or damaged in its compression, is passed
//! over; and a database of schema 1 keeps its snapshots through the
//! migration to schema 2 while replicas of either kind keep starting.
//!
//! The database comes from `KNOWNGOOD_POSTGRES_URL`; without it each test
//! says it was skipped and passes.
#![cfg(feature = "postgres")]

mod common;

use common::pg::{by_hand, fresh, in_schema, services, unique, url};
use knowngood::adapters::PostgresJournalStore;
use knowngood::adapters::postgres::{MIGRATIONS, SCHEMA_VERSION};
use knowngood::port::JournalStore;
use knowngood::{Chain, Journal, Ledger, Snapshot, SnapshotProblem, Startup};

/// What schema 2 keeps for `body`: `\0lz4`, the length, one LZ4 block.
fn packed(body: &str) -> Vec<u8> {
    let mut out = b"\0lz4".to_vec();
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(body.as_bytes()));
    out
}

/// The stored body of the snapshot at `position`, as bytes.
async fn stored_body(client: &tokio_postgres::Client, journal: &str, position: i64) -> Vec<u8> {
    client
        .query_one(
            "SELECT body FROM knowngood_snapshots WHERE journal = $1 AND position = $2",
            &[&journal, &position],
        )
        .await
        .unwrap()
        .get(0)
}

async fn set_body(client: &tokio_postgres::Client, journal: &str, position: i64, body: &[u8]) {
    client
        .execute(
            "UPDATE knowngood_snapshots SET body = $3 WHERE journal = $1 AND position = $2",
            &[&journal, &position, &body],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_snapshot_start_matches_a_full_replay_and_a_tampered_snapshot_is_passed_over() {
    let Some((url, name, store, mut ledger)) = fresh("snapshots").await else {
        return;
    };
    // 300 entries, a snapshot, 200 more, a snapshot, 20 more.
    for (prefix, n, snapshot) in [("s", 300, true), ("t", 200, true), ("u", 20, false)] {
        let len = ledger.journal().len() as u64;
        store
            .append(len, &services(&mut ledger, prefix, n))
            .await
            .unwrap();
        if snapshot {
            store
                .save_snapshot(&Snapshot::of(&ledger).seal(&store.chain()))
                .await
                .unwrap();
        }
    }

    let (started, report) = knowngood::open_ledger(&store, Startup::Snapshot)
        .await
        .unwrap();
    assert_eq!(report.snapshot, Some(500));
    assert_eq!(report.replayed, 20);
    assert_eq!(started.state(), ledger.state());
    assert_eq!(started.journal().head(), ledger.journal().head());
    let (full, report) = knowngood::open_ledger(&store, Startup::Replay)
        .await
        .unwrap();
    assert_eq!(report.replayed, 520);
    assert_eq!(full.state(), started.state());

    // Kept compressed: less than half of the body's 12 kB.
    let client = by_hand(&url).await;
    let kept = stored_body(&client, &name, 500).await;
    let body = Snapshot::of(&ledger).seal(&store.chain()).body;
    assert!(kept.starts_with(b"\0lz4"), "{:?}", &kept[..8]);
    assert!(
        kept.len() * 2 < body.len(),
        "{} of {}",
        kept.len(),
        body.len()
    );

    // Someone edits the newest snapshot's body in the database, and
    // compresses it again as the adapter would: well formed, but the seal
    // no longer holds.
    let original = stored_body(&client, &name, 500).await;
    let text = String::from_utf8(
        lz4_flex::block::decompress(
            &original[8..],
            u32::from_le_bytes(original[4..8].try_into().unwrap()) as usize,
        )
        .unwrap(),
    )
    .unwrap();
    assert!(text.contains("\"t-1\""));
    set_body(
        &client,
        &name,
        500,
        &packed(&text.replace("\"t-1\"", "\"x-1\"")),
    )
    .await;
    let (started, report) = knowngood::open_ledger(&store, Startup::Snapshot)
        .await
        .unwrap();
    assert_eq!(
        report.ignored,
        vec![SnapshotProblem::BadSeal { position: 500 }]
    );
    assert_eq!(
        report.snapshot,
        Some(300),
        "the older one, which checks out"
    );
    assert_eq!(report.replayed, 220);
    assert_eq!(started.state(), ledger.state());

    // Damaged in its compression: a flipped bit in the block, the block
    // cut short, a length no block could expand to, a header alone. Each
    // is passed over; none is read as a snapshot, none fails the start.
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    let mut huge = original.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    for damaged in [
        flipped,
        original[..original.len() - 5].to_vec(),
        huge,
        b"\0lz4".to_vec(),
        vec![0xff; 16],
    ] {
        set_body(&client, &name, 500, &damaged).await;
        let (started, report) = knowngood::open_ledger(&store, Startup::Snapshot)
            .await
            .unwrap();
        assert_eq!(
            report.ignored,
            vec![SnapshotProblem::BadSeal { position: 500 }],
            "{:?}",
            &damaged[..8.min(damaged.len())]
        );
        assert_eq!(report.snapshot, Some(300));
        assert_eq!(started.state(), ledger.state());
    }
    // Put back as it was, it is the newest again.
    set_body(&client, &name, 500, &original).await;
    let (_, report) = knowngood::open_ledger(&store, Startup::Snapshot)
        .await
        .unwrap();
    assert_eq!(report.snapshot, Some(500));
}

/// A replica upgraded before the database is migrated keeps text bodies
/// on schema 1; the migration converts them, and they still start a
/// ledger; what is saved after it is compressed, by a replica that saw
/// schema 1 when it connected as well as by a new one.
#[tokio::test]
async fn postgres_schema_1_snapshots_start_before_and_after_the_migration_to_schema_2() {
    let Some(url) = url("schema_1_snapshots") else {
        return;
    };
    let schema = unique("kg_upgrade").replace('-', "_");
    let admin = by_hand(&url).await;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let url = in_schema(&url, &schema);
    // The database as an older knowngood left it: schema 1 only.
    let client = by_hand(&url).await;
    client
        .batch_execute(&format!(
            "CREATE TABLE knowngood_schema (version integer NOT NULL);
             {}
             INSERT INTO knowngood_schema (version) VALUES (1);",
            MIGRATIONS[0].1
        ))
        .await
        .unwrap();
    let kind = || async {
        let row = client
            .query_one(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                 WHERE attrelid = 'knowngood_snapshots'::regclass AND attname = 'body'",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, String>(0)
    };

    let chain = Chain::named("upgrade");
    let old = PostgresJournalStore::connect(&url, "upgrade", chain.clone())
        .await
        .unwrap();
    let mut ledger = Ledger::from_journal(Journal::with_chain(chain.clone())).unwrap();
    old.append(0, &services(&mut ledger, "a", 30))
        .await
        .unwrap();
    old.save_snapshot(&Snapshot::of(&ledger).seal(&chain))
        .await
        .unwrap();
    assert_eq!(kind().await, "text");
    let (started, report) = knowngood::open_ledger(&old, Startup::Snapshot)
        .await
        .unwrap();
    assert_eq!((report.snapshot, report.replayed), (Some(30), 0));
    assert_eq!(started.state(), ledger.state());

    // Another replica migrates the database.
    let new = PostgresJournalStore::connect(&url, "upgrade", chain.clone())
        .await
        .unwrap();
    assert_eq!(new.migrate().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(kind().await, "bytea");
    let converted = stored_body(&client, "upgrade", 30).await;
    assert!(converted.starts_with(b"{"), "converted as it was");
    for store in [&old, &new] {
        let (started, report) = knowngood::open_ledger(store, Startup::Snapshot)
            .await
            .unwrap();
        assert_eq!((report.snapshot, report.ignored.len()), (Some(30), 0));
        assert_eq!(started.state(), ledger.state());
    }

    // The replica that saw schema 1 saves the next one: compressed.
    old.append(30, &services(&mut ledger, "b", 20))
        .await
        .unwrap();
    old.save_snapshot(&Snapshot::of(&ledger).seal(&chain))
        .await
        .unwrap();
    let saved = stored_body(&client, "upgrade", 50).await;
    assert!(saved.starts_with(b"\0lz4"));
    for store in [&old, &new] {
        let (started, report) = knowngood::open_ledger(store, Startup::Snapshot)
            .await
            .unwrap();
        assert_eq!((report.snapshot, report.ignored.len()), (Some(50), 0));
        assert_eq!(started.state(), ledger.state());
    }
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
