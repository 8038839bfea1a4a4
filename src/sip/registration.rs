//! Optional REGISTER to the trunk, refreshed before it expires.
//!
//! Some carriers only accept INVITEs from a registered account. rsipstack's
//! `Registration` sends one REGISTER (answering a 401/407 challenge once); this
//! module keeps it alive: refresh ahead of the granted expiry (RFC 3261 §10.2.4),
//! back off after failures, and publish the state for logs and the API.

use std::sync::Arc;
use std::time::Duration;

use rsipstack::dialog::registration::Registration;
use rsipstack::sip::StatusCodeKind;
use tokio::sync::watch;
use tracing::{info, warn};

use super::agent::SipAgent;
use super::uac::{TrunkRoute, parse_uri};

/// The registration as last seen.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationState {
    Pending,
    Registered { expires: Duration },
    Failed { code: Option<u16>, reason: String },
}

/// When to send the refresh for a binding granted for `granted`: halfway for
/// short grants, one minute early for long ones, never sooner than 1 s.
pub fn refresh_after(granted: Duration) -> Duration {
    let early = if granted > Duration::from_secs(120) {
        granted - Duration::from_secs(60)
    } else {
        granted / 2
    };
    early.max(Duration::from_secs(1))
}

/// Retry delay after `failures` consecutive failures: 5 s doubling to 5 min.
pub fn backoff(failures: u32) -> Duration {
    let secs = 5u64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    Duration::from_secs(secs.min(300))
}

/// Starts the keep-alive loop; the receiver follows its state.
pub fn spawn(
    agent: Arc<SipAgent>,
    route: TrunkRoute,
    expires: u32,
) -> watch::Receiver<RegistrationState> {
    let (tx, rx) = watch::channel(RegistrationState::Pending);
    tokio::spawn(async move {
        // The transport comes from the Request-URI: keep REGISTER on the
        // trunk's transport (a TCP-only carrier never sees a UDP REGISTER).
        let transport = match route.transport {
            rsipstack::sip::Transport::Tcp => ";transport=tcp",
            _ => "",
        };
        let server = match parse_uri(&format!("sip:{}{transport}", route.domain)) {
            Ok(u) => u,
            Err(e) => {
                tx.send_replace(RegistrationState::Failed {
                    code: None,
                    reason: e.to_string(),
                });
                return;
            }
        };
        let mut reg = Registration::new(agent.endpoint().clone(), route.credential.clone());
        let mut failures = 0u32;
        loop {
            let state = match reg.register(server.clone(), Some(expires)).await {
                Ok(resp) if resp.status_code.kind() == StatusCodeKind::Successful => {
                    RegistrationState::Registered {
                        expires: Duration::from_secs(reg.expires().into()),
                    }
                }
                Ok(resp) => RegistrationState::Failed {
                    code: Some(resp.status_code.code()),
                    reason: resp.status_code.to_string(),
                },
                Err(e) => RegistrationState::Failed {
                    code: None,
                    reason: e.to_string(),
                },
            };
            let wait = match &state {
                RegistrationState::Registered { expires } => {
                    failures = 0;
                    info!(expires_secs = expires.as_secs(), "registered to the trunk");
                    refresh_after(*expires)
                }
                RegistrationState::Failed { code, reason } => {
                    failures += 1;
                    let wait = backoff(failures);
                    warn!(?code, %reason, retry_secs = wait.as_secs(), "trunk registration failed");
                    wait
                }
                RegistrationState::Pending => Duration::from_secs(1),
            };
            tx.send_replace(state);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = tx.closed() => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_before_expiry() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::from_secs(1));
    }

    #[test]
    fn backs_off_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
        assert_eq!(backoff(30), Duration::from_secs(300));
    }
}
