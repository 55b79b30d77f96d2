//! A scan of the event store is handed to SQLite in batches as it is made (its generator on a
//! thread of its own), so that a table of millions of events never sits whole in memory: every
//! row arrives once and in order across batches, a query that stops early stops the scan, and
//! a keyed ask is still answered. (A store of its own: the tables read one store directory per
//! process.)

mod support;

use warden_core::{BootId, Event, Process, ProcessKey, SocketAddress};

/// More than a few batches (4,096 rows each).
const EVENTS: u16 = 10_000;

fn connect(port: u16) -> Event {
    let pid = 200 + u32::from(port % 7);
    let process = Process {
        key: Some(ProcessKey {
            boot: BootId([0xef; 16]),
            pid,
            start_ticks: 9,
        }),
        pid,
        ..Default::default()
    };
    let to = SocketAddress::Ip {
        addr: "127.0.0.1".parse().unwrap(),
        port,
    };
    support::connect(process, 1_000 + i64::from(port), 3, Some(to))
}

#[test]
fn a_store_scan_arrives_whole_in_batches_and_stops_with_its_query() {
    let dir = tempfile::tempdir().unwrap();
    let store = warden_store::Store::open(dir.path(), warden_store::Retention::default()).unwrap();
    let rows: Vec<_> = (1..=EVENTS)
        .map(|port| warden_store::StoredEvent::from_event(connect(port)))
        .collect();
    store.writer().unwrap().insert_batch(&rows).unwrap();
    warden_tables::set_event_store_dir(dir.path());
    let conn = warden_tables::open().unwrap();

    // Every event once, in the store's order, across the batches.
    let mut stmt = conn
        .prepare("SELECT remote_port FROM socket_events")
        .unwrap();
    let ports: Vec<i64> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ports, (1..=i64::from(EVENTS)).collect::<Vec<_>>());
    let (count, distinct_rowids): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT rowid) FROM socket_events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((count, distinct_rowids), (10_000, 10_000));

    // A query that stops early: the rows it asked for, and the next query runs as ever.
    let first: Vec<i64> = conn
        .prepare("SELECT remote_port FROM socket_events LIMIT 3")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(first, [1, 2, 3]);

    // A keyed ask (made on the query's thread) and a filter SQLite applies after the scan.
    let entity = "efefefef-203-9";
    let keyed: i64 = conn
        .query_row(
            "SELECT count(*) FROM socket_events WHERE entity_id = ?1",
            [entity],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(keyed, (1..=EVENTS).filter(|p| p % 7 == 3).count() as i64);
    let late: i64 = conn
        .query_row(
            "SELECT count(*) FROM socket_events WHERE remote_port > 9000",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(late, 1_000);
}
