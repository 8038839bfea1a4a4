//! REGISTER to the trunk against sipp as the registrar: the digest challenge is
//! answered (sipp's `verifyauth` checks it), and the binding is refreshed before
//! the granted 3 s expire.

mod common;

use std::sync::Arc;
use std::time::Duration;

use carecall::config::TrunkConfig;
use carecall::sip::agent::{OutboundOnly, SipAgent};
use carecall::sip::registration::{self, RegistrationState};
use carecall::sip::uac::TrunkRoute;
use common::peers::{Sipp, Transport, test_dir};

async fn loopback_agent() -> Arc<SipAgent> {
    SipAgent::start(
        "127.0.0.1:0".parse().unwrap(),
        None,
        "carecall-test",
        Arc::new(OutboundOnly),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_digest_and_refreshes_before_expiry() {
    let dir = test_dir("register_refresh");
    let mut sipp = Sipp::start(
        &dir,
        "uas_register.xml",
        &[("user", "carecall1022"), ("pass", "Tr0ng-Mat-Khau")],
        Transport::Udp,
    );
    let agent = loopback_agent().await;
    let trunk = TrunkConfig {
        uri: format!("sip:127.0.0.1:{}", sipp.port),
        username: "carecall1022".into(),
        password: "Tr0ng-Mat-Khau".into(),
        register: true,
        ..TrunkConfig::default()
    };
    let route = TrunkRoute::from_config(&trunk).unwrap();
    let mut state = registration::spawn(agent.clone(), route, 3600);

    // First binding, then the refresh: two Registered states, each fresh.
    let mut registered = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while registered < 2 {
        tokio::time::timeout_at(deadline, state.changed())
            .await
            .expect("registration did not refresh in time")
            .unwrap();
        let now = state.borrow_and_update().clone();
        match now {
            RegistrationState::Registered { expires } => {
                assert_eq!(
                    expires,
                    Duration::from_secs(3),
                    "granted expiry is honoured"
                );
                registered += 1;
            }
            other => panic!("registration failed: {other:?}"),
        }
    }
    let outcome = tokio::task::spawn_blocking(move || sipp.wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(outcome.passed(), "{}", outcome.describe());
    agent.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_registrar_reports_failure_and_keeps_retrying() {
    let port = common::peers::free_udp_port();
    let agent = loopback_agent().await;
    let trunk = TrunkConfig {
        uri: format!("sip:127.0.0.1:{port}"),
        username: "u".into(),
        password: "p".into(),
        ..TrunkConfig::default()
    };
    let mut state =
        registration::spawn(agent.clone(), TrunkRoute::from_config(&trunk).unwrap(), 60);
    tokio::time::timeout(Duration::from_secs(40), state.changed())
        .await
        .expect("a failure must be reported after Timer F")
        .unwrap();
    assert!(
        matches!(&*state.borrow(), RegistrationState::Failed { .. }),
        "{:?}",
        *state.borrow()
    );
    agent.shutdown();
}
