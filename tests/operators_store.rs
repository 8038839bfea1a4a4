//! The operators and registrations repositories on SQLite and PostgreSQL: the
//! migration's DDL and the upserts are portable, bindings expire on both.

#[path = "common/pg.rs"]
mod pg;
#[path = "common/both_backends.rs"]
#[macro_use]
mod both_backends;

mod cases {
    use carecall::store::{NewOperator, OperatorState, RegistrationRecord, Store, StoreError};
    use chrono::{DateTime, TimeZone, Utc};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_735_000_000 + secs, 0).unwrap()
    }

    fn operator(user: &str) -> NewOperator {
        NewOperator {
            username: format!("{user}.login"),
            display_name: "Nguyễn Thị Mai".into(),
            sip_user: user.into(),
            sip_ha1: "00112233445566778899aabbccddeeff".into(),
            unit_code: None,
        }
    }

    pub async fn operators_and_states(store: &Store, _url: &str) {
        let a = store
            .create_operator(&operator("mai"), at(0))
            .await
            .unwrap();
        store
            .create_operator(&operator("lan"), at(0))
            .await
            .unwrap();
        let mut dup = operator("other");
        dup.sip_user = "mai".into();
        assert!(matches!(
            store.create_operator(&dup, at(1)).await,
            Err(StoreError::Constraint { .. })
        ));
        store
            .set_operator_state(&a.id, OperatorState::WrapUp, at(5))
            .await
            .unwrap();
        let all = store.operators().await.unwrap();
        assert_eq!(
            all.iter().map(|o| o.sip_user.as_str()).collect::<Vec<_>>(),
            ["lan", "mai"]
        );
        assert_eq!(
            (all[1].state, all[1].state_since),
            (OperatorState::WrapUp, at(5))
        );
        let found = store.operator_by_sip_user("mai").await.unwrap().unwrap();
        assert_eq!(found.sip_ha1, "00112233445566778899aabbccddeeff");
    }

    pub async fn bindings_upsert_and_expire(store: &Store, _url: &str) {
        let op = store
            .create_operator(&operator("mai"), at(0))
            .await
            .unwrap();
        let mut b = RegistrationRecord {
            operator_id: op.id.clone(),
            contact: "sip:mai@127.0.0.1:5086".into(),
            source: "127.0.0.1:5086".into(),
            transport: "udp".into(),
            user_agent: None,
            call_id: "c".into(),
            cseq: 1,
            expires_at: at(60),
        };
        store.upsert_registration(&b).await.unwrap();
        b.cseq = 2;
        b.expires_at = at(120);
        b.user_agent = Some("baresip".into());
        store.upsert_registration(&b).await.unwrap();
        assert_eq!(
            store.contacts_of(&op.id, at(100)).await.unwrap(),
            vec![b.clone()]
        );
        assert!(store.contacts_of(&op.id, at(120)).await.unwrap().is_empty());
        assert_eq!(store.expire_registrations(at(119)).await.unwrap(), 0);
        assert_eq!(store.expire_registrations(at(120)).await.unwrap(), 1);
        store.upsert_registration(&b).await.unwrap();
        assert_eq!(store.remove_registrations(&op.id).await.unwrap(), 1);
    }
}

both_backends!(operators_and_states, bindings_upsert_and_expire);
