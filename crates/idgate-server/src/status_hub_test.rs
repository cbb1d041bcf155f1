use std::time::Duration;

use idgate_core::SessionId;
use idgate_store::Change;

use super::*;

fn hub(max_per_session: usize, max_streams: usize) -> StatusHub {
    StatusHub::new(StreamSettings {
        heartbeat: Duration::from_secs(15),
        max_per_session,
        max_streams,
    })
}

#[test]
fn a_session_gets_at_most_its_streams_and_a_freed_slot_is_reusable() {
    let hub = hub(2, 100);
    let id = SessionId::generate();
    let first = hub.open(&id).expect("first");
    let _second = hub.open(&id).expect("second");
    assert_eq!(hub.open(&id).err(), Some(Refusal::SessionFull));
    assert!(hub.open(&SessionId::generate()).is_ok(), "another session");
    drop(first);
    assert!(hub.open(&id).is_ok(), "the freed slot");
}

#[test]
fn the_node_bound_counts_every_session() {
    let hub = hub(8, 2);
    let a = hub.open(&SessionId::generate()).expect("a");
    let _b = hub.open(&SessionId::generate()).expect("b");
    assert_eq!(
        hub.open(&SessionId::generate()).err(),
        Some(Refusal::NodeFull)
    );
    assert_eq!(hub.open_streams(), 2);
    drop(a);
    assert_eq!(hub.open_streams(), 1);
    assert!(hub.open(&SessionId::generate()).is_ok());
}

#[test]
fn a_change_wakes_only_the_streams_of_its_session_and_resync_wakes_all() {
    let hub = hub(8, 100);
    let (one, other) = (SessionId::generate(), SessionId::generate());
    let mut a = hub.open(&one).expect("a");
    let mut b = hub.open(&one).expect("b");
    let c = hub.open(&other).expect("c");

    hub.wake(&Change::Session(one.clone()));
    hub.wake(&Change::Deliveries);
    assert!(a.wake.has_changed().expect("open"));
    assert!(b.wake.has_changed().expect("open"));
    assert!(
        !c.wake.has_changed().expect("open"),
        "another session's change"
    );

    for slot in [&mut a, &mut b] {
        slot.wake.mark_unchanged();
    }
    hub.wake(&Change::Resync);
    for slot in [&a, &b, &c] {
        assert!(slot.wake.has_changed().expect("open"), "resync");
    }
}

#[test]
fn the_last_stream_of_a_session_removes_its_entry() {
    let hub = hub(8, 100);
    let id = SessionId::generate();
    let slot = hub.open(&id).expect("slot");
    assert!(hub.0.lock().sessions.contains_key(&id));
    drop(slot);
    assert!(!hub.0.lock().sessions.contains_key(&id));
}

#[test]
fn closing_the_hub_is_seen_by_open_streams() {
    let hub = hub(8, 100);
    let slot = hub.open(&SessionId::generate()).expect("slot");
    assert!(!*slot.closing.borrow());
    hub.close();
    assert!(*slot.closing.borrow());
}
