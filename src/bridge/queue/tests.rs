//! The pick order (pure) and the hunt against an in-memory store with a fake
//! way of reaching operators. Timings are a few milliseconds: the hunt awaits
//! events, it never sleeps longer than the configured retry.

use std::sync::Mutex;

use chrono::{DateTime, TimeZone};

use super::*;
use crate::bridge::leg::{LegPeer, leg_channel};
use crate::store::NewOperator;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_735_000_000 + secs, 0).unwrap()
}

fn record(name: &str, state: OperatorState, since: i64) -> OperatorRecord {
    OperatorRecord {
        id: OperatorId(name.into()),
        username: name.into(),
        display_name: name.into(),
        sip_user: name.into(),
        sip_ha1: String::new(),
        unit_code: None,
        state,
        state_since: at(since),
        created_at: at(0),
    }
}

#[test]
fn longest_idle_available_first_and_tried_skipped() {
    let ops = vec![
        record("an", OperatorState::Available, 30),
        record("binh", OperatorState::Paused, 1),
        record("chi", OperatorState::Available, 10),
        record("dung", OperatorState::OnCall, 2),
        record("em", OperatorState::Available, 20),
        record("giang", OperatorState::WrapUp, 3),
        record("ha", OperatorState::Offline, 4),
    ];
    let names = |v: Vec<OperatorRecord>| v.into_iter().map(|o| o.username).collect::<Vec<_>>();
    assert_eq!(names(candidates(ops.clone(), &[])), ["chi", "em", "an"]);
    let tried = [OperatorId("chi".into())];
    assert_eq!(names(candidates(ops, &tried)), ["em", "an"]);
}

/// What the fake phone of an operator does when rung.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phone {
    Answers,
    Declines,
    Unreachable,
}

/// Rings operators by name; keeps the peers so legs stay open.
struct FakeReach {
    phones: Vec<(String, Phone)>,
    rung: Mutex<Vec<String>>,
    peers: Mutex<Vec<LegPeer>>,
}

impl FakeReach {
    fn new(phones: &[(&str, Phone)]) -> Arc<FakeReach> {
        Arc::new(FakeReach {
            phones: phones.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
            rung: Mutex::new(Vec::new()),
            peers: Mutex::new(Vec::new()),
        })
    }

    fn phone(&self, op: &OperatorRecord) -> Phone {
        self.phones
            .iter()
            .find(|(n, _)| *n == op.sip_user)
            .map(|(_, p)| *p)
            .unwrap_or(Phone::Unreachable)
    }

    fn rung(&self) -> Vec<String> {
        self.rung.lock().unwrap().clone()
    }
}

impl OperatorReach for FakeReach {
    fn kind(&self) -> LegKind {
        LegKind::Sip
    }

    fn reachable<'a>(&'a self, op: &'a OperatorRecord) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.phone(op) != Phone::Unreachable })
    }

    fn dial<'a>(
        &'a self,
        op: &'a OperatorRecord,
        _ctx: &'a DialContext,
    ) -> BoxFuture<'a, Option<LegHandle>> {
        Box::pin(async move {
            self.rung.lock().unwrap().push(op.sip_user.clone());
            let (handle, peer) = leg_channel(op.id.clone(), LegKind::Sip);
            let ev = match self.phone(op) {
                Phone::Answers => LegEvent::Answered,
                _ => LegEvent::Failed {
                    reason: "486 Busy Here".into(),
                },
            };
            peer.events.try_send(ev).unwrap();
            self.peers.lock().unwrap().push(peer);
            Some(handle)
        })
    }
}

async fn setup(names: &[(&str, OperatorState, i64)]) -> (Store, Vec<OperatorRecord>) {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let mut ops = Vec::new();
    for (name, state, since) in names {
        let new = NewOperator {
            username: format!("{name}.login"),
            display_name: name.to_string(),
            sip_user: name.to_string(),
            sip_ha1: "0".repeat(32),
            unit_code: None,
        };
        let op = store.create_operator(&new, at(0)).await.unwrap();
        store
            .set_operator_state(&op.id, *state, at(*since))
            .await
            .unwrap();
        ops.push(op);
    }
    (store, ops)
}

fn queue(store: &Store, reach: Arc<FakeReach>) -> Arc<OperatorQueue> {
    let q = Arc::new(OperatorQueue::new(
        store.clone(),
        QueueSettings {
            wait: Duration::from_millis(300),
            wrap_up: Duration::from_millis(30),
            retry: Duration::from_millis(20),
        },
    ));
    q.add_reach(reach);
    q
}

fn ctx() -> DialContext {
    DialContext {
        call: CallId("call-1".into()),
        queue: "operators".into(),
        display: "1022".into(),
        reserved: None,
    }
}

async fn state_of(store: &Store, name: &str) -> OperatorState {
    let ops = store.operators().await.unwrap();
    ops.into_iter().find(|o| o.sip_user == name).unwrap().state
}

#[tokio::test]
async fn a_busy_phone_is_skipped_and_the_next_operator_answers() {
    let (store, _) = setup(&[
        ("lan", OperatorState::Available, 1),
        ("mai", OperatorState::Available, 2),
        ("nga", OperatorState::Paused, 0),
        ("oanh", OperatorState::Available, 0),
    ])
    .await;
    let reach = FakeReach::new(&[
        ("lan", Phone::Declines),
        ("mai", Phone::Answers),
        ("nga", Phone::Answers),
    ]);
    let q = queue(&store, reach.clone());
    let conn = q.hunt(ctx(), None).await.unwrap().expect("an operator");
    assert_eq!(conn.operator.sip_user, "mai");
    assert_eq!(
        reach.rung(),
        ["lan", "mai"],
        "oanh has no phone, nga is paused"
    );
    assert_eq!(state_of(&store, "mai").await, OperatorState::OnCall);
    assert_eq!(state_of(&store, "lan").await, OperatorState::Available);
    assert_eq!(state_of(&store, "nga").await, OperatorState::Paused);

    q.call_ended(&conn.operator.id).await;
    let mut seen = Vec::new();
    for _ in 0..100 {
        let s = state_of(&store, "mai").await;
        if seen.last() != Some(&s) {
            seen.push(s);
        }
        if s == OperatorState::Available {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        seen,
        [OperatorState::WrapUp, OperatorState::Available],
        "wrap-up at once, available after wrap_up"
    );
}

#[tokio::test]
async fn nobody_free_ends_the_hunt_after_the_wait() {
    let (store, _) = setup(&[("lan", OperatorState::OnCall, 1)]).await;
    let reach = FakeReach::new(&[("lan", Phone::Answers)]);
    let q = queue(&store, reach.clone());
    let started = std::time::Instant::now();
    let got = q
        .hunt(ctx(), Some(Duration::from_millis(100)))
        .await
        .unwrap();
    assert!(got.is_none());
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(
        reach.rung().is_empty(),
        "an operator on a call is never rung"
    );
}

#[tokio::test]
async fn an_operator_freeing_up_during_the_wait_gets_the_call() {
    let (store, ops) = setup(&[("lan", OperatorState::WrapUp, 1)]).await;
    let reach = FakeReach::new(&[("lan", Phone::Answers)]);
    let q = queue(&store, reach);
    let hunt = q.hunt(ctx(), None);
    tokio::time::sleep(Duration::from_millis(50)).await;
    store
        .set_operator_state(&ops[0].id, OperatorState::Available, at(9))
        .await
        .unwrap();
    let conn = hunt.await.unwrap().expect("lan, once free");
    assert_eq!(conn.operator.sip_user, "lan");
}

#[tokio::test]
async fn two_calls_never_get_the_same_operator() {
    let (store, _) = setup(&[("lan", OperatorState::Available, 1)]).await;
    let reach = FakeReach::new(&[("lan", Phone::Answers)]);
    let q = queue(&store, reach);
    let a = q.hunt(ctx(), Some(Duration::from_millis(150)));
    let b = q.hunt(ctx(), Some(Duration::from_millis(150)));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(
        a.is_some() as u8 + b.is_some() as u8,
        1,
        "exactly one call gets lan"
    );
}

/// Progressive dialling and click-to-call: the operator claimed before the
/// citizen was dialled is the only one rung, once; one who does not pick up
/// is given back, and nobody else is tried.
#[tokio::test]
async fn a_reserved_operator_is_rung_alone_and_released_on_failure() {
    let (store, ops) = setup(&[
        ("an", OperatorState::Available, 1),
        ("binh", OperatorState::Available, 2),
    ])
    .await;
    let reach = FakeReach::new(&[("an", Phone::Declines), ("binh", Phone::Answers)]);
    let q = queue(&store, reach.clone());
    assert!(store.claim_operator(&ops[0].id, at(5)).await.unwrap());
    let mut c = ctx();
    c.reserved = Some(ops[0].id.clone());
    let got = q.hunt(c, None).await.unwrap();
    assert!(got.is_none(), "the reserved operator declined");
    assert_eq!(reach.rung(), ["an"], "nobody else was rung");
    assert_eq!(state_of(&store, "an").await, OperatorState::Available);

    assert!(store.claim_operator(&ops[1].id, at(6)).await.unwrap());
    let mut c = ctx();
    c.reserved = Some(ops[1].id.clone());
    let got = q.hunt(c, None).await.unwrap().expect("binh answers");
    assert_eq!(got.operator.sip_user, "binh");
    assert_eq!(state_of(&store, "binh").await, OperatorState::OnCall);
    q.release_reserved(&ops[1].id).await;
    assert_eq!(state_of(&store, "binh").await, OperatorState::Available);
}
