//! A simulated citizen's phone: a small SIP user agent that answers carecall's
//! calls and takes part in the survey, so the whole service can be tried and
//! tested on one machine without a carrier.
//!
//! What it does with a call depends on the Request-URI's user part
//! ([`behaviour::Behaviour::for_user`]): `busy` (486), `reject` (603),
//! `noanswer` (rings until cancelled: 487), `hangup` (consents, then hangs up),
//! `silent` (answers, says nothing), `decline` (presses 2), and anything else,
//! such as a phone number, answers the full survey. The citizen's turns follow
//! the IVR's prompts by ear ([`script`]); keys go out as RFC 4733 events and
//! spoken answers as recorded speech ([`mouth`]).

pub mod behaviour;
mod line;
pub mod mouth;
pub mod script;
pub mod voice;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rsipstack::sip::{Method, StatusCode};
use rsipstack::transaction::transaction::Transaction;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::sip::agent::{RequestHandler, SipAgent, SipError};

/// How long [`Phone::shutdown`] lets calls in progress send their BYE.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("cannot start the simulated phone: {0}")]
    Sip(#[from] SipError),
}

/// What every call of the phone shares.
struct Shared {
    /// The citizen's voice for spoken answers (8 kHz).
    voice: Arc<[i16]>,
    /// Cancelled by [`Phone::shutdown`]: calls hang up.
    cancel: CancellationToken,
    /// Calls in progress.
    active: AtomicUsize,
}

/// The running phone. Dropping it stops it at once; [`Phone::shutdown`] first
/// hangs up the calls in progress.
pub struct Phone {
    agent: Arc<SipAgent>,
    shared: Arc<Shared>,
}

impl Phone {
    /// Listens for calls on `bind` (UDP and TCP; port 0 picks a free port).
    /// Spoken answers use a prompt of `prompts/vi` as the citizen's voice.
    pub async fn start(bind: SocketAddr) -> Result<Phone, PhoneError> {
        Phone::start_with_voice(bind, &voice::repo_path("prompts/vi")).await
    }

    /// [`Phone::start`] with the voice taken from another prompt directory
    /// (a synthetic voice when it has none).
    pub async fn start_with_voice(
        bind: SocketAddr,
        prompts_dir: &Path,
    ) -> Result<Phone, PhoneError> {
        let shared = Arc::new(Shared {
            voice: voice::load(prompts_dir),
            cancel: CancellationToken::new(),
            active: AtomicUsize::new(0),
        });
        let handler = Arc::new(Answerer {
            shared: shared.clone(),
        });
        let agent = SipAgent::start(bind, None, "carecall-phone", handler).await?;
        Ok(Phone { agent, shared })
    }

    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.agent.local_addr()
    }

    /// Calls in progress (ringing or answered).
    pub fn active_calls(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Hangs up every call (BYE, or 480 while ringing), waits a little for them
    /// to end, then stops the SIP agent.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while self.active_calls() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.agent.shutdown();
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        // The agent's own tasks keep it alive: stop them explicitly.
        self.shared.cancel.cancel();
        self.agent.shutdown();
    }
}

/// Takes new calls; answers the other out-of-dialog requests like a plain phone.
struct Answerer {
    shared: Arc<Shared>,
}

impl RequestHandler for Answerer {
    fn handle(&self, agent: Arc<SipAgent>, mut tx: Transaction) {
        let status = match tx.original.method {
            Method::Invite => {
                tokio::spawn(line::take_call(agent, tx, self.shared.clone()));
                return;
            }
            Method::Ack => return,
            Method::Options => StatusCode::OK,
            // RFC 3261 §15.1.2 / §9.2: no such dialog or transaction.
            Method::Bye | Method::Cancel => StatusCode::CallTransactionDoesNotExist,
            _ => StatusCode::MethodNotAllowed,
        };
        tokio::spawn(async move {
            if let Err(e) = tx.reply(status.clone()).await {
                debug!(error = %e, ?status, "could not answer an out-of-dialog request");
            }
        });
    }
}
