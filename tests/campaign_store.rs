//! Campaign storage (units, campaigns, targets and their claim protocol, alarms),
//! run the same way on SQLite (a temp file per case) and on PostgreSQL (a
//! throwaway cluster, a fresh database per case; see common/pg.rs).

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use carecall::store::{
    CallOutcome, CampaignId, CampaignMode, CampaignStatus, Dossier, NewCall, NewCampaign,
    NewTarget, RecoveredCounts, Store, StoreError, TargetId, TargetRecord, TargetState, UnitRecord,
    disposition, unit_level,
};
use chrono::{DateTime, TimeZone, Utc};

const MIN: Duration = Duration::from_secs(60);

/// Millisecond timestamps: what the store keeps.
fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_735_000_000_000 + ms).unwrap()
}

fn unit(code: &str, name: &str, level: &str, parent: Option<&str>) -> UnitRecord {
    UnitRecord {
        code: code.into(),
        name: name.into(),
        level: level.into(),
        parent: parent.map(Into::into),
    }
}

fn new_campaign(name: &str) -> NewCampaign {
    NewCampaign {
        name: name.into(),
        mode: CampaignMode::Ivr,
        dialplan: "csat-v1".into(),
        period_from: at(0),
        period_to: at(86_400_000 * 365),
        daily_target: 25,
        max_concurrent: 4,
        calls_per_second: 0.5,
        rule_json: r#"{"units":["DT-CL"],"exclude_days":90}"#.into(),
        windows_json: r#"{"weekdays":"mon-fri"}"#.into(),
        retry_json: r#"{"busy_min":30}"#.into(),
        quotas_json: "[]".into(),
        // The top bit set: BIGINT is signed.
        sample_seed: u64::MAX - 41,
    }
}

fn target(n: usize, rank: i64) -> NewTarget {
    NewTarget {
        dossier_code: format!("HS-{n:05}"),
        phone: format!("09{n:08}"),
        unit_code: "DT-CL".into(),
        rank,
    }
}

/// A running campaign with targets 0..n, rank = index.
async fn running_with(store: &Store, n: usize) -> CampaignId {
    let id = store.create_campaign(&new_campaign("c")).await.unwrap();
    let targets: Vec<NewTarget> = (0..n).map(|i| target(i, i as i64)).collect();
    assert_eq!(store.add_targets(&id, &targets).await.unwrap(), n as u64);
    store
        .set_campaign_status(&id, CampaignStatus::Running)
        .await
        .unwrap();
    id
}

fn codes(ts: &[TargetRecord]) -> Vec<&str> {
    ts.iter().map(|t| t.dossier_code.as_str()).collect()
}

async fn get(store: &Store, id: &TargetId) -> TargetRecord {
    store.target(id).await.unwrap().expect("target exists")
}

fn dossier(code: &str, unit: &str, field: &str, returned: Option<i64>) -> Dossier {
    Dossier {
        code: code.into(),
        procedure: "Đăng ký khai sinh".into(),
        field: field.into(),
        unit_code: unit.into(),
        applicant_kind: "citizen".into(),
        applicant_name: "Trần Thị B".into(),
        phone: format!("09{}", &code[code.len() - 1..]),
        received_at: Some(at(0)),
        returned_at: returned.map(at),
        created_at: at(0),
    }
}

fn call(destination: &str, dossier: Option<&str>, started: i64) -> NewCall {
    NewCall {
        id: None,
        dossier_code: dossier.map(Into::into),
        sip_call_id: None,
        destination: destination.into(),
        caller_id: "1022".into(),
        dialplan: "csat-v1".into(),
        started_at: at(started),
    }
}

/// A call answered at `answered` (ms from the base) to `destination`.
/// [`Store::dossiers_returned_between`] with times in ms from the base.
async fn between(
    store: &Store,
    from: i64,
    to: i64,
    units: Option<&[String]>,
    fields: Option<&[String]>,
) -> Result<Vec<Dossier>, StoreError> {
    store
        .dossiers_returned_between(at(from), at(to), units, fields)
        .await
}

async fn answered_call(store: &Store, destination: &str, dossier: Option<&str>, answered: i64) {
    let id = store
        .start_call(&call(destination, dossier, answered - 5_000))
        .await
        .unwrap();
    store.call_answered(&id, at(answered)).await.unwrap();
    store
        .finish_call(
            &id,
            &CallOutcome {
                disposition: disposition::ANSWERED.into(),
                sip_code: Some(200),
                reason: None,
                end_reason: None,
                ended_at: at(answered + 60_000),
            },
        )
        .await
        .unwrap();
}

mod cases {
    pub use super::dossier_cases::*;
    use super::*;

    pub async fn units_round_trip_and_hierarchy(store: &Store, _url: &str) {
        let province = unit("DT", "Tỉnh Đồng Tháp", unit_level::PROVINCE, None);
        let district = unit("DT-CL", "Huyện Cao Lãnh", unit_level::DISTRICT, Some("DT"));
        let commune = unit(
            "DT-CL-MX",
            "Xã Mỹ Xương",
            unit_level::COMMUNE,
            Some("DT-CL"),
        );
        // Children first would break the foreign key: parents go in first.
        for u in [&province, &commune, &district] {
            let r = store.upsert_unit(u).await;
            if u.code == "DT-CL-MX" {
                assert!(matches!(r, Err(StoreError::Constraint { .. })), "{r:?}");
            } else {
                r.unwrap();
            }
        }
        store.upsert_unit(&commune).await.unwrap();
        assert_eq!(
            store.units().await.unwrap(),
            [province.clone(), district.clone(), commune.clone()]
        );

        // Upsert updates in place.
        let renamed = unit(
            "DT-CL",
            "Huyện Cao Lãnh (mới)",
            unit_level::DISTRICT,
            Some("DT"),
        );
        store.upsert_unit(&renamed).await.unwrap();
        assert_eq!(store.units().await.unwrap().len(), 3);

        // By code, by exact name (trimmed), or nothing.
        let by_code = store.unit_by_name_or_code("DT-CL-MX").await.unwrap();
        assert_eq!(by_code, Some(commune.clone()));
        let by_name = store.unit_by_name_or_code("  Huyện Cao Lãnh (mới) ").await;
        assert_eq!(by_name.unwrap(), Some(renamed));
        assert_eq!(
            store.unit_by_name_or_code("Huyện Cao Lãnh").await.unwrap(),
            None
        );
        assert_eq!(store.unit_by_name_or_code("dt").await.unwrap(), None);

        // Refused: unknown level, unknown parent.
        for bad in [
            unit("X1", "X", "village", Some("DT")),
            unit("X2", "X", unit_level::COMMUNE, Some("NOPE")),
        ] {
            let err = store.upsert_unit(&bad).await.unwrap_err();
            assert!(matches!(err, StoreError::Constraint { .. }), "{err}");
        }

        // Commune names repeat across districts: a name is not a guess.
        let other = unit("DT-TH", "Huyện Tháp Mười", unit_level::DISTRICT, Some("DT"));
        store.upsert_unit(&other).await.unwrap();
        let twin = unit(
            "DT-TH-MX",
            "Xã Mỹ Xương",
            unit_level::COMMUNE,
            Some("DT-TH"),
        );
        store.upsert_unit(&twin).await.unwrap();
        let err = store.unit_by_name_or_code("Xã Mỹ Xương").await.unwrap_err();
        assert!(
            matches!(err, StoreError::Ambiguous { count: 2, .. }),
            "{err}"
        );
        assert_eq!(
            store.unit_by_name_or_code("DT-TH-MX").await.unwrap(),
            Some(twin)
        );
    }

    pub async fn campaign_round_trip_and_transitions(store: &Store, _url: &str) {
        use CampaignStatus::*;
        let nc = new_campaign("Khảo sát 2025");
        let id = store.create_campaign(&nc).await.unwrap();
        let c = store.campaign(&id).await.unwrap().unwrap();
        assert_eq!(c.id, id);
        assert_eq!(c.status, Draft);
        assert_eq!(
            (c.name.as_str(), c.mode, c.dialplan.as_str()),
            ("Khảo sát 2025", CampaignMode::Ivr, "csat-v1")
        );
        assert_eq!((c.period_from, c.period_to), (nc.period_from, nc.period_to));
        assert_eq!((c.daily_target, c.max_concurrent), (25, 4));
        assert_eq!(c.calls_per_second, 0.5);
        assert_eq!(c.rule_json, nc.rule_json);
        assert_eq!(c.windows_json, nc.windows_json);
        assert_eq!(c.retry_json, nc.retry_json);
        assert_eq!(c.quotas_json, nc.quotas_json);
        assert_eq!(c.sample_seed, u64::MAX - 41);
        assert!(store.running_campaigns().await.unwrap().is_empty());

        let mut op = NewCampaign {
            mode: CampaignMode::Operator,
            ..new_campaign("other")
        };
        op.sample_seed = 7;
        let other = store.create_campaign(&op).await.unwrap();
        assert_eq!(store.campaigns().await.unwrap().len(), 2);

        let refused = |from: CampaignStatus, to: CampaignStatus| {
            move |err: StoreError| match err {
                StoreError::InvalidTransition { from: f, to: t, .. } => {
                    assert_eq!((f.as_str(), t.as_str()), (from.as_str(), to.as_str()))
                }
                other => panic!("expected InvalidTransition, got {other}"),
            }
        };
        refused(Draft, Paused)(store.set_campaign_status(&id, Paused).await.unwrap_err());
        refused(Draft, Draft)(store.set_campaign_status(&id, Draft).await.unwrap_err());
        refused(Draft, Finished)(store.set_campaign_status(&id, Finished).await.unwrap_err());
        for to in [Running, Paused, Running, Paused, Running, Finished] {
            store.set_campaign_status(&id, to).await.unwrap();
            assert_eq!(store.campaign(&id).await.unwrap().unwrap().status, to);
        }
        for to in [Running, Paused, Stopped, Draft] {
            refused(Finished, to)(store.set_campaign_status(&id, to).await.unwrap_err());
        }

        store.set_campaign_status(&other, Running).await.unwrap();
        let running = store.running_campaigns().await.unwrap();
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].id, other);
        assert_eq!(running[0].mode, CampaignMode::Operator);
        store.set_campaign_status(&other, Paused).await.unwrap();
        assert!(store.running_campaigns().await.unwrap().is_empty());
        store.set_campaign_status(&other, Stopped).await.unwrap();
        refused(Stopped, Running)(
            store
                .set_campaign_status(&other, Running)
                .await
                .unwrap_err(),
        );

        let ghost = CampaignId("no-such-campaign".into());
        assert!(store.campaign(&ghost).await.unwrap().is_none());
        let err = store
            .set_campaign_status(&ghost, Running)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NotFound {
                    what: "campaign",
                    ..
                }
            ),
            "{err}"
        );
    }

    pub async fn targets_are_idempotent(store: &Store, _url: &str) {
        let id = store.create_campaign(&new_campaign("c")).await.unwrap();
        let first: Vec<NewTarget> = (0..3).map(|i| target(i, i as i64)).collect();
        assert_eq!(store.add_targets(&id, &first).await.unwrap(), 3);
        assert_eq!(store.add_targets(&id, &first).await.unwrap(), 0);
        // More than one INSERT's worth, with repeats inside the batch.
        let mut more: Vec<NewTarget> = (0..450).map(|i| target(i, i as i64)).collect();
        more.push(target(7, 99));
        assert_eq!(store.add_targets(&id, &more).await.unwrap(), 447);
        let all = store.campaign_targets(&id).await.unwrap();
        assert_eq!(all.len(), 450);
        let t = &all[0];
        assert_eq!(t.dossier_code, "HS-00000");
        assert_eq!(t.phone, "0900000000");
        assert_eq!((t.state, t.attempts, t.rank), (TargetState::Pending, 0, 0));
        assert!(t.claimed_by.is_none() && t.lease_until.is_none() && t.last_call_id.is_none());
        assert_eq!(get(store, &t.id).await, *t);

        // The same dossier may be in two campaigns.
        let other = store.create_campaign(&new_campaign("d")).await.unwrap();
        assert_eq!(store.add_targets(&other, &first).await.unwrap(), 3);

        let ghost = CampaignId("no-such-campaign".into());
        let err = store.add_targets(&ghost, &first).await.unwrap_err();
        assert!(matches!(err, StoreError::Constraint { .. }), "{err}");
        assert!(
            store
                .target(&TargetId("nope".into()))
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn claims_follow_due_time_then_rank_and_respect_limit(store: &Store, _url: &str) {
        let id = store.create_campaign(&new_campaign("c")).await.unwrap();
        // Ranks in reverse of insertion order.
        let targets: Vec<NewTarget> = (0..6).map(|i| target(i, 10 - i as i64)).collect();
        store.add_targets(&id, &targets).await.unwrap();
        let now = at(0);
        // A draft campaign hands out nothing.
        assert!(
            store
                .claim_due("a", &id, now, 10, MIN)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .set_campaign_status(&id, CampaignStatus::Running)
            .await
            .unwrap();
        assert!(
            store
                .claim_due("a", &id, now, 0, MIN)
                .await
                .unwrap()
                .is_empty()
        );

        let got = store.claim_due("a", &id, now, 2, MIN).await.unwrap();
        assert_eq!(codes(&got), ["HS-00005", "HS-00004"]);
        for t in &got {
            assert_eq!(t.state, TargetState::Claimed);
            assert_eq!(t.claimed_by.as_deref(), Some("a"));
            assert_eq!(t.lease_until, Some(at(60_000)));
            assert_eq!(get(store, &t.id).await, *t);
        }
        // HS-00003 comes back as a retry due later than the others.
        let got = store.claim_due("b", &id, now, 1, MIN).await.unwrap();
        assert_eq!(codes(&got), ["HS-00003"]);
        store
            .finish_attempt(
                &got[0].id,
                "b",
                disposition::BUSY,
                Some(at(1_800_000)),
                None,
            )
            .await
            .unwrap();
        let got = store.claim_due("b", &id, now, 10, MIN).await.unwrap();
        assert_eq!(codes(&got), ["HS-00002", "HS-00001", "HS-00000"]);
        assert!(
            store
                .claim_due("b", &id, at(1_799_999), 10, MIN)
                .await
                .unwrap()
                .is_empty()
        );

        // Paused: nothing, even when due.
        store
            .set_campaign_status(&id, CampaignStatus::Paused)
            .await
            .unwrap();
        assert!(
            store
                .claim_due("b", &id, at(1_800_000), 10, MIN)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .set_campaign_status(&id, CampaignStatus::Running)
            .await
            .unwrap();
        let got = store
            .claim_due("b", &id, at(1_800_000), 10, MIN)
            .await
            .unwrap();
        assert_eq!(codes(&got), ["HS-00003"]);
        assert_eq!(got[0].attempts, 1);

        // Another campaign's targets are not handed out. (Its citizens are
        // others: a number in flight in one campaign waits in every other.)
        let other = store.create_campaign(&new_campaign("o")).await.unwrap();
        let others: Vec<NewTarget> = (100..102).map(|i| target(i, i as i64)).collect();
        store.add_targets(&other, &others).await.unwrap();
        store
            .set_campaign_status(&other, CampaignStatus::Running)
            .await
            .unwrap();
        assert!(
            store
                .claim_due("a", &id, at(9_999_999), 10, MIN)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .claim_due("a", &other, now, 10, MIN)
                .await
                .unwrap()
                .len(),
            2
        );
    }

    /// Two pools on one database are two nodes; 8 tasks each claim in a loop.
    pub async fn concurrent_claimers_never_share_a_target(store: &Store, url: &str) {
        let id = running_with(store, 500).await;
        let other = Store::connect(url).await.unwrap();
        let mut tasks = Vec::new();
        for (node, s) in [("node-a", store.clone()), ("node-b", other.clone())] {
            for _ in 0..8 {
                let (s, id) = (s.clone(), id.clone());
                tasks.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let got = s.claim_due(node, &id, at(0), 7, MIN).await.unwrap();
                        if got.is_empty() {
                            return (node, mine);
                        }
                        assert!(got.iter().all(|t| t.claimed_by.as_deref() == Some(node)));
                        mine.extend(got.into_iter().map(|t| t.id));
                        tokio::task::yield_now().await;
                    }
                }));
            }
        }
        let mut seen = HashSet::new();
        let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
        for t in tasks {
            let (node, ids) = t.await.unwrap();
            *per_node.entry(node).or_default() += ids.len();
            for target in ids {
                assert!(seen.insert(target.clone()), "{target} claimed twice");
            }
        }
        assert_eq!(seen.len(), 500);
        assert!(per_node.values().all(|n| *n > 0), "{per_node:?}");
        let progress = store.campaign_progress(&id).await.unwrap();
        assert_eq!((progress.pending, progress.claimed), (0, 500));
        other.close().await;
    }

    pub async fn finish_attempt_retries_or_ends(store: &Store, _url: &str) {
        let id = running_with(store, 2).await;
        let got = store.claim_due("a", &id, at(0), 1, MIN).await.unwrap();
        let t = got[0].id.clone();

        // Only the holder may go on.
        let call = store
            .start_call(&call("0900000000", None, 0))
            .await
            .unwrap();
        let err = store.mark_dialling(&t, "b", &call).await.unwrap_err();
        assert!(matches!(err, StoreError::LostClaim { .. }), "{err}");
        store.mark_dialling(&t, "a", &call).await.unwrap();
        let r = get(store, &t).await;
        assert_eq!(
            (r.state, r.last_call_id.as_ref()),
            (TargetState::Dialling, Some(&call))
        );
        let err = store.mark_dialling(&t, "a", &call).await.unwrap_err();
        assert!(matches!(err, StoreError::LostClaim { .. }), "{err}");

        // No answer: retry in two hours.
        store
            .finish_attempt(&t, "a", disposition::NO_ANSWER, Some(at(7_200_000)), None)
            .await
            .unwrap();
        let r = get(store, &t).await;
        assert_eq!((r.state, r.attempts), (TargetState::Pending, 1));
        assert_eq!(r.last_disposition.as_deref(), Some(disposition::NO_ANSWER));
        assert_eq!(r.next_attempt_at, at(7_200_000));
        assert_eq!(
            (r.claimed_by, r.lease_until, r.final_reason),
            (None, None, None)
        );
        let err = store
            .finish_attempt(&t, "a", disposition::BUSY, None, Some("x"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LostClaim { .. }), "{err}");

        // Second attempt answered: done.
        let got = store
            .claim_due("b", &id, at(7_200_000), 5, MIN)
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].id, t, "due retries after fresh targets due earlier");
        store
            .finish_attempt(&t, "b", disposition::ANSWERED, None, Some("completed"))
            .await
            .unwrap();
        let r = get(store, &t).await;
        assert_eq!((r.state, r.attempts), (TargetState::Done, 2));
        assert_eq!(r.final_reason.as_deref(), Some("completed"));
        assert_eq!(r.last_disposition.as_deref(), Some(disposition::ANSWERED));
        assert!(r.claimed_by.is_none());
        assert!(
            store
                .claim_due("b", &id, at(99_999_999), 5, MIN)
                .await
                .unwrap()
                .is_empty()
        );

        // Closing without an attempt.
        let other = &got[0].id;
        store.close_target(other, "b", "do_not_call").await.unwrap();
        let r = get(store, other).await;
        assert_eq!((r.state, r.attempts), (TargetState::Done, 0));
        assert_eq!(r.final_reason.as_deref(), Some("do_not_call"));

        let ghost = TargetId("nope".into());
        let err = store.mark_dialling(&ghost, "a", &call).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }

    pub async fn recovery_tells_claimed_from_dialling(store: &Store, _url: &str) {
        let id = running_with(store, 3).await;
        let got = store.claim_due("dead", &id, at(0), 2, MIN).await.unwrap();
        let (never, maybe) = (got[0].id.clone(), got[1].id.clone());
        let call = store
            .start_call(&call("0900000001", None, 0))
            .await
            .unwrap();
        store.mark_dialling(&maybe, "dead", &call).await.unwrap();

        // Leases still valid: nothing moves.
        let none = store.recover_stale(at(59_999), 10 * MIN).await.unwrap();
        assert_eq!(none, RecoveredCounts::default());

        let now = at(60_001);
        let got = store.recover_stale(now, 10 * MIN).await.unwrap();
        assert_eq!(
            got,
            RecoveredCounts {
                released: 1,
                interrupted: 1
            }
        );
        let r = get(store, &never).await;
        assert_eq!(
            (r.state, r.attempts, r.last_disposition),
            (TargetState::Pending, 0, None)
        );
        assert_eq!(r.next_attempt_at, Utc.timestamp_millis_opt(0).unwrap());
        assert_eq!((r.claimed_by, r.lease_until), (None, None));
        let r = get(store, &maybe).await;
        assert_eq!((r.state, r.attempts), (TargetState::Pending, 1));
        assert_eq!(
            r.last_disposition.as_deref(),
            Some(disposition::INTERRUPTED)
        );
        assert_eq!(r.next_attempt_at, at(60_001 + 600_000));
        assert_eq!(r.last_call_id.as_ref(), Some(&call));

        // The dead node's late report is refused; the interrupted target waits.
        let err = store
            .finish_attempt(
                &maybe,
                "dead",
                disposition::ANSWERED,
                None,
                Some("completed"),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LostClaim { .. }), "{err}");
        let again = store.claim_due("b", &id, now, 10, MIN).await.unwrap();
        assert_eq!(codes(&again), ["HS-00000", "HS-00002"]);
        let later = store
            .claim_due("b", &id, at(660_001), 10, MIN)
            .await
            .unwrap();
        assert_eq!(codes(&later), ["HS-00001"]);

        // A restarted node takes back all of its own claims, leases or not.
        let progress = store.campaign_progress(&id).await.unwrap();
        assert_eq!(progress.claimed, 3);
        let first = &again[0].id;
        store.mark_dialling(first, "b", &call).await.unwrap();
        let got = store
            .recover_node("b", at(700_000), 10 * MIN)
            .await
            .unwrap();
        assert_eq!(
            got,
            RecoveredCounts {
                released: 2,
                interrupted: 1
            }
        );
        assert_eq!(
            store.recover_node("b", at(700_000), MIN).await.unwrap(),
            RecoveredCounts::default()
        );
    }

    pub async fn leases_renew_and_claims_release(store: &Store, _url: &str) {
        let id = running_with(store, 3).await;
        let got = store.claim_due("a", &id, at(0), 3, MIN).await.unwrap();
        let ids: Vec<TargetId> = got.iter().map(|t| t.id.clone()).collect();
        let call = store
            .start_call(&call("0900000000", None, 0))
            .await
            .unwrap();
        store.mark_dialling(&ids[0], "a", &call).await.unwrap();

        assert_eq!(store.renew_lease("b", &ids, at(600_000)).await.unwrap(), 0);
        assert_eq!(
            store
                .renew_lease("a", &ids[..2], at(600_000))
                .await
                .unwrap(),
            2
        );
        assert_eq!(get(store, &ids[0]).await.lease_until, Some(at(600_000)));
        assert_eq!(get(store, &ids[2]).await.lease_until, Some(at(60_000)));

        // Only the unrenewed one is stale at +2 min.
        let got = store.recover_stale(at(120_000), MIN).await.unwrap();
        assert_eq!(
            got,
            RecoveredCounts {
                released: 1,
                interrupted: 0
            }
        );
        assert_eq!(get(store, &ids[2]).await.state, TargetState::Pending);

        // Clean shutdown: the claimed one goes back, the dialling one stays.
        assert_eq!(store.release_claims("b").await.unwrap(), 0);
        assert_eq!(store.release_claims("a").await.unwrap(), 1);
        assert_eq!(get(store, &ids[1]).await.state, TargetState::Pending);
        let r = get(store, &ids[0]).await;
        assert_eq!(
            (r.state, r.claimed_by.as_deref()),
            (TargetState::Dialling, Some("a"))
        );
        let got = store.recover_stale(at(600_001), MIN).await.unwrap();
        assert_eq!(
            got,
            RecoveredCounts {
                released: 0,
                interrupted: 1
            }
        );
    }

    pub async fn progress_counts_states_dispositions_and_attempts(store: &Store, _url: &str) {
        let id = running_with(store, 6).await;
        let empty = store.create_campaign(&new_campaign("e")).await.unwrap();
        assert_eq!(store.campaign_progress(&empty).await.unwrap().total(), 0);
        let ghost = CampaignId("nope".into());
        let err = store.campaign_progress(&ghost).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");

        let got = store.claim_due("a", &id, at(0), 5, MIN).await.unwrap();
        let call = store
            .start_call(&call("0900000000", None, 0))
            .await
            .unwrap();
        let finish = |i: usize, d: &'static str, next: Option<i64>, why: Option<&'static str>| {
            let t = got[i].id.clone();
            async move {
                store
                    .finish_attempt(&t, "a", d, next.map(at), why)
                    .await
                    .unwrap();
            }
        };
        finish(0, disposition::ANSWERED, None, Some("completed")).await;
        finish(1, disposition::REJECTED, None, Some("declined")).await;
        finish(2, disposition::BUSY, Some(1_800_000), None).await;
        store.mark_dialling(&got[3].id, "a", &call).await.unwrap();
        let later = store
            .claim_due("a", &id, at(1_800_000), 5, MIN)
            .await
            .unwrap();
        assert_eq!(codes(&later), ["HS-00005", "HS-00002"]);
        store
            .finish_attempt(
                &later[1].id,
                "a",
                disposition::BUSY,
                None,
                Some("max_attempts"),
            )
            .await
            .unwrap();

        let p = store.campaign_progress(&id).await.unwrap();
        assert_eq!((p.pending, p.claimed, p.dialling, p.done), (0, 2, 1, 3));
        assert_eq!(p.total(), 6);
        assert_eq!(p.attempts, 4);
        let map = |kv: &[(&str, u64)]| -> BTreeMap<String, u64> {
            kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        assert_eq!(
            p.by_disposition,
            map(&[("answered", 1), ("busy", 1), ("rejected", 1)])
        );
        assert_eq!(
            p.by_final_reason,
            map(&[("completed", 1), ("declined", 1), ("max_attempts", 1)])
        );
    }

    pub async fn last_surveyed_and_do_not_call(store: &Store, _url: &str) {
        // By destination: the latest answered call counts; unanswered ones don't.
        answered_call(store, "0911111111", None, 1_000).await;
        answered_call(store, "0911111111", None, 9_000).await;
        answered_call(store, "0911111111", None, 5_000).await;
        store
            .start_call(&call("0922222222", None, 20_000))
            .await
            .unwrap();
        // By the dossier the call was placed for (destination in another form).
        store
            .upsert_dossier(&dossier("HS-3", "DT-CL", "Hộ tịch", Some(0)))
            .await
            .unwrap();
        answered_call(store, "+84933333333", Some("HS-3"), 30_000).await;
        // By the campaign target the call is linked to.
        let id = running_with(store, 1).await;
        let t = store
            .claim_due("a", &id, at(0), 1, MIN)
            .await
            .unwrap()
            .remove(0);
        let c = store
            .start_call(&call("sip:trunk-form@x", None, 40_000))
            .await
            .unwrap();
        store.link_call(&c, &id, &t.id).await.unwrap();
        store.call_answered(&c, at(45_000)).await.unwrap();

        let phones: Vec<String> = ["0911111111", "0922222222", "093", "0900000000", "0944"]
            .map(String::from)
            .to_vec();
        let got = store.last_surveyed(&phones).await.unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got["0911111111"], at(9_000));
        assert_eq!(got["093"], at(30_000));
        assert_eq!(got["0900000000"], at(45_000));
        assert!(store.last_surveyed(&[]).await.unwrap().is_empty());
        // Many numbers: more than one query's worth.
        let many: Vec<String> = (0..1_200)
            .map(|i| format!("08{i:08}"))
            .chain(phones)
            .collect();
        assert_eq!(store.last_surveyed(&many).await.unwrap(), got);

        let since = store.surveyed_since(at(9_000)).await.unwrap();
        assert_eq!(since.len(), 5, "{since:?}");
        assert_eq!(since["0911111111"], at(9_000));
        assert_eq!(since["+84933333333"], at(30_000));
        assert!(
            !store
                .surveyed_since(at(45_001))
                .await
                .unwrap()
                .contains_key("0900000000")
        );

        let err = store
            .link_call(&carecall::store::CallId("nope".into()), &id, &t.id)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { what: "call", .. }),
            "{err}"
        );

        assert!(store.do_not_call_numbers().await.unwrap().is_empty());
        store
            .add_do_not_call("0911111111", "pressed 9")
            .await
            .unwrap();
        store.add_do_not_call("0955555555", "api").await.unwrap();
        store
            .add_do_not_call("0955555555", "api again")
            .await
            .unwrap();
        let dnc = store.do_not_call_numbers().await.unwrap();
        assert_eq!(
            dnc,
            HashSet::from(["0911111111".into(), "0955555555".into()])
        );
    }

    pub async fn dossiers_returned_between_filters(store: &Store, _url: &str) {
        let day = 86_400_000;
        for d in [
            dossier("HS-1", "DT-CL", "Hộ tịch", Some(0)),
            dossier("HS-2", "DT-CL", "Đất đai", Some(day)),
            dossier("HS-3", "DT-TH", "Hộ tịch", Some(2 * day)),
            dossier("HS-4", "DT-TH", "Đất đai", Some(3 * day)),
            dossier("HS-5", "DT-CL", "Hộ tịch", None),
            dossier("HS-0", "DT-SD", "Hộ tịch", Some(day)),
        ] {
            store.upsert_dossier(&d).await.unwrap();
        }
        let code_list = |ds: Vec<Dossier>| ds.into_iter().map(|d| d.code).collect::<Vec<_>>();
        // [from, to): the end is excluded, never-returned dossiers too.
        let all = between(store, 0, 3 * day, None, None).await.unwrap();
        assert_eq!(code_list(all.clone()), ["HS-0", "HS-1", "HS-2", "HS-3"]);
        assert_eq!(all[1], dossier("HS-1", "DT-CL", "Hộ tịch", Some(0)));
        let units = ["DT-CL".to_string(), "DT-TH".to_string()];
        let got = between(store, day, 4 * day, Some(&units), None)
            .await
            .unwrap();
        assert_eq!(code_list(got), ["HS-2", "HS-3", "HS-4"]);
        let fields = ["Hộ tịch".to_string()];
        let got = between(store, 0, 4 * day, Some(&units), Some(&fields))
            .await
            .unwrap();
        assert_eq!(code_list(got), ["HS-1", "HS-3"]);
        assert!(
            between(store, 0, 4 * day, Some(&[]), None)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            between(store, 0, 4 * day, None, Some(&[]))
                .await
                .unwrap()
                .is_empty()
        );

        // Paging by code.
        let f = carecall::store::DossierFilter {
            returned_from: at(0),
            returned_to: at(4 * day),
            unit_codes: None,
            fields: Some(&fields),
        };
        let p1 = store.dossiers_returned_page(&f, None, 2).await.unwrap();
        assert_eq!(code_list(p1), ["HS-0", "HS-1"]);
        let p2 = store
            .dossiers_returned_page(&f, Some("HS-1"), 2)
            .await
            .unwrap();
        assert_eq!(code_list(p2), ["HS-3"]);
    }

    pub async fn alarms_open_once_per_kind(store: &Store, _url: &str) {
        assert!(store.open_alarms().await.unwrap().is_empty());
        assert!(
            store
                .raise_alarm("trunk_down", "REGISTER timed out")
                .await
                .unwrap()
        );
        assert!(!store.raise_alarm("trunk_down", "again").await.unwrap());
        assert!(store.raise_alarm("disk_full", "recordings").await.unwrap());
        let open = store.open_alarms().await.unwrap();
        assert_eq!(open.len(), 2);
        let trunk = open.iter().find(|a| a.kind == "trunk_down").unwrap();
        assert_eq!(trunk.message, "REGISTER timed out");
        assert!(trunk.cleared_at.is_none());

        assert!(store.clear_alarm("trunk_down").await.unwrap());
        assert!(!store.clear_alarm("trunk_down").await.unwrap());
        let open = store.open_alarms().await.unwrap();
        assert_eq!(
            open.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(),
            ["disk_full"]
        );
        assert!(store.raise_alarm("trunk_down", "down again").await.unwrap());
        let open = store.open_alarms().await.unwrap();
        let again = open.iter().find(|a| a.kind == "trunk_down").unwrap();
        assert_ne!(again.id, trunk.id);
        assert_eq!(again.message, "down again");
    }
}

/// Issue 15: one number, one call at a time and one dossier a week; one
/// survey response per sampled dossier; the attempt history for the retry rules.
mod dossier_cases {
    use super::*;
    use carecall::store::{AnswerKind, NewAnswer, response_status};

    /// Two running campaigns sampling two dossiers of the same citizen.
    async fn same_citizen_twice(store: &Store) -> (CampaignId, CampaignId) {
        let mut ids = Vec::new();
        for (name, n) in [("a", 1), ("b", 2)] {
            let id = store.create_campaign(&new_campaign(name)).await.unwrap();
            let t = NewTarget {
                phone: "0912345678".into(),
                ..target(n, 0)
            };
            store.add_targets(&id, &[t]).await.unwrap();
            store
                .set_campaign_status(&id, CampaignStatus::Running)
                .await
                .unwrap();
            ids.push(id);
        }
        (ids[0].clone(), ids[1].clone())
    }

    pub async fn one_number_is_never_dialled_twice_at_once(store: &Store, _url: &str) {
        let (a, b) = same_citizen_twice(store).await;
        assert_eq!(
            store.phones_in_running_campaigns().await.unwrap(),
            HashSet::from(["0912345678".to_string()])
        );
        let got = store.claim_due("n1", &a, at(0), 5, MIN).await.unwrap();
        assert_eq!(got.len(), 1);
        // The other campaign's dossier of the same number waits, on any node.
        assert!(
            store
                .claim_due("n2", &b, at(0), 5, MIN)
                .await
                .unwrap()
                .is_empty()
        );
        let call = store
            .start_call(&call("0912345678", Some("HS-00001"), 1_000))
            .await
            .unwrap();
        store.link_call(&call, &a, &got[0].id).await.unwrap();
        store.mark_dialling(&got[0].id, "n1", &call).await.unwrap();
        assert!(
            store
                .claim_due("n2", &b, at(2_000), 5, MIN)
                .await
                .unwrap()
                .is_empty()
        );
        // The attempt ends and is retried later: the number is free, but it was
        // called for another dossier this week, so the second dossier waits…
        store
            .finish_attempt(&got[0].id, "n1", "busy", Some(at(86_400_000)), None)
            .await
            .unwrap();
        let day = 86_400_000;
        assert!(
            store
                .claim_due("n2", &b, at(3 * day), 5, MIN)
                .await
                .unwrap()
                .is_empty()
        );
        // …a week, or the campaign's own gap.
        let spaced = store
            .claim_due_spaced("n2", &b, at(3 * day), 5, MIN, Duration::from_secs(86_400))
            .await
            .unwrap();
        assert_eq!(spaced.len(), 1, "a one-day gap has passed");
        store.release_claims("n2").await.unwrap();
        let later = store
            .claim_due("n2", &b, at(7 * day + 1_001), 5, MIN)
            .await
            .unwrap();
        assert_eq!(codes(&later), ["HS-00002"]);
        // Its own retries are not held back by its own calls.
        let again = store
            .claim_due("n1", &a, at(7 * day + 2_000), 5, MIN)
            .await
            .unwrap();
        assert!(again.is_empty(), "the number is in flight for b now");
    }

    /// The database itself refuses a second claim on a number in flight (two
    /// nodes racing past the claim query's check).
    pub async fn the_database_refuses_two_claims_on_one_number(store: &Store, url: &str) {
        let (a, b) = same_citizen_twice(store).await;
        store.claim_due("n1", &a, at(0), 1, MIN).await.unwrap();
        refused_as_duplicate(
            url,
            "UPDATE campaign_targets SET state = 'claimed', claimed_by = 'rogue' \
             WHERE campaign_id = $1",
            b.as_str(),
        )
        .await;
    }

    /// Runs `sql` on a raw connection (no store in the way) and expects the
    /// database to refuse it as a duplicate.
    async fn refused_as_duplicate(url: &str, sql: &'static str, arg: &str) {
        use sqlx::Connection;
        let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
        let err = sqlx::query(sql)
            .bind(arg)
            .execute(&mut db)
            .await
            .unwrap_err();
        assert!(
            err.as_database_error()
                .is_some_and(|d| d.is_unique_violation()),
            "{err}"
        );
    }

    fn answer(key: &str, value: &str) -> NewAnswer {
        NewAnswer {
            key: key.into(),
            kind: AnswerKind::Value,
            value: Some(value.into()),
            why: None,
            offset_ms: Some(1_000),
            clip_path: None,
            clip_seconds: None,
            clip_sha256: None,
            answered_at: Utc::now(),
        }
    }

    pub async fn a_sampled_dossier_has_one_response_across_its_calls(store: &Store, url: &str) {
        let id = running_with(store, 1).await;
        let t = store
            .claim_due("n", &id, at(0), 1, MIN)
            .await
            .unwrap()
            .remove(0);
        let first = store
            .start_call(&call(&t.phone, Some(&t.dossier_code), 0))
            .await
            .unwrap();
        store.link_call(&first, &id, &t.id).await.unwrap();
        let (resp, given) = store
            .open_target_response(&first, &t.id, Some(&t.dossier_code), "survey-1022")
            .await
            .unwrap();
        assert!(given.is_empty());
        store.add_answer(&resp, &answer("q1", "2")).await.unwrap();
        store
            .set_response_status(&resp, response_status::PARTIAL)
            .await
            .unwrap();

        // The retry resumes the same response and is told what it holds.
        let second = store
            .start_call(&call(&t.phone, Some(&t.dossier_code), 90_000_000))
            .await
            .unwrap();
        store.link_call(&second, &id, &t.id).await.unwrap();
        let (again, given) = store
            .open_target_response(&second, &t.id, Some(&t.dossier_code), "survey-1022")
            .await
            .unwrap();
        assert_eq!(again, resp);
        assert_eq!(
            given
                .iter()
                .map(|a| (a.key.as_str(), a.value.as_deref()))
                .collect::<Vec<_>>(),
            [("q1", Some("2"))]
        );
        store.add_answer(&resp, &answer("q4", "3")).await.unwrap();
        store
            .set_response_status(&resp, response_status::COMPLETED)
            .await
            .unwrap();
        // Each call shows the dossier's one response; the calls stay the history.
        for c in [&first, &second] {
            let s = store.call_summary(c).await.unwrap().unwrap();
            let r = s.response.expect("the dossier's response");
            assert_eq!(
                (r.id.clone(), r.status.as_str()),
                (resp.clone(), "completed")
            );
        }
        let history = store.target_history(&t.id).await.unwrap();
        assert_eq!(history.started, [at(0), at(90_000_000)]);
        assert_eq!(history.soft_refusals, 0);
        store.note_soft_refusal(&t.id, "n").await.unwrap();
        assert_eq!(store.target_history(&t.id).await.unwrap().soft_refusals, 1);
        let lost = store
            .note_soft_refusal(&t.id, "other-node")
            .await
            .unwrap_err();
        assert!(matches!(lost, StoreError::LostClaim { .. }), "{lost}");
        // A second response for the same dossier is refused by the database.
        refused_as_duplicate(
            url,
            "INSERT INTO survey_responses (id, call_id, dossier_code, dialplan, created_at, \
             status, target_id) SELECT 'dup', call_id, dossier_code, dialplan, created_at, \
             status, target_id FROM survey_responses WHERE target_id = $1",
            t.id.as_str(),
        )
        .await;
    }
}
both_backends!(
    one_number_is_never_dialled_twice_at_once,
    the_database_refuses_two_claims_on_one_number,
    a_sampled_dossier_has_one_response_across_its_calls,
    units_round_trip_and_hierarchy,
    campaign_round_trip_and_transitions,
    targets_are_idempotent,
    claims_follow_due_time_then_rank_and_respect_limit,
    concurrent_claimers_never_share_a_target,
    finish_attempt_retries_or_ends,
    recovery_tells_claimed_from_dialling,
    leases_renew_and_claims_release,
    progress_counts_states_dispositions_and_attempts,
    last_surveyed_and_do_not_call,
    dossiers_returned_between_filters,
    alarms_open_once_per_kind,
);
