//! What a process that died mid-call left behind, put right at the next start.
//!
//! `kill -9`, a power cut or an OOM kill leave each live call's row `in_progress`
//! (turned `interrupted` by [`Store::mark_interrupted`]) and its recording on disk
//! with a stale header and no `recordings` row, so the review page had nothing to
//! play. [`link_recordings`] repairs each such file and links it to its call.
//! The trunk also still had the call up: [`bye_dead_dialogs`] ends each one with a
//! BYE built from the dialog saved at the answer ([`live_dialog`]).

use std::path::{Path, PathBuf};

use rsipstack::dialog::DialogId;
use rsipstack::dialog::dialog::{Dialog, DialogSnapshot, DialogSnapshotState};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::headers::{typed, untyped};
use rsipstack::sip::{Route, Uri};
use rsipstack::transaction::key::TransactionRole;
use tracing::{info, warn};

use crate::media::recorder::recover;
use crate::sip::agent::SipAgent;
use crate::store::{CallRecord, LiveDialog, NewRecording, Store, StoreError};

/// Links the recording each interrupted, answered call left on disk to its row.
/// Returns how many were linked. A file that cannot be repaired is logged and left.
pub async fn link_recordings(store: &Store, dir: &Path) -> Result<usize, StoreError> {
    let mut linked = 0;
    for call in store.interrupted_unrecorded().await? {
        let Some(path) = candidates(dir, &call).into_iter().find(|p| p.is_file()) else {
            continue;
        };
        // Repair and hashing read the whole file: off the async workers.
        let job = path.clone();
        let info = match tokio::task::spawn_blocking(move || recover(&job)).await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) => {
                warn!(call = %call.id, error = %e, "interrupted call's recording not recoverable");
                continue;
            }
            Err(e) => {
                warn!(call = %call.id, error = %e, "recording recovery stopped");
                continue;
            }
        };
        let rec = NewRecording {
            path: info.path.display().to_string(),
            seconds: info.seconds,
            sha256: info.sha256,
            bytes: info.bytes,
            created_at: chrono::Utc::now(),
        };
        store.add_recording(&call.id, &rec).await?;
        info!(call = %call.id, seconds = rec.seconds, "interrupted call's recording linked");
        linked += 1;
    }
    Ok(linked)
}

/// Where the call's recording may be: it was created at the answer, dated by the
/// day then (the start's day too, for a call that rang across midnight).
fn candidates(dir: &Path, call: &CallRecord) -> Vec<PathBuf> {
    let Some(sip_call_id) = call.sip_call_id.as_deref() else {
        return Vec::new();
    };
    let mut days = vec![call.started_at];
    days.extend(call.answered_at);
    days.into_iter()
        .rev()
        .map(|at| super::recording_file(dir, at, sip_call_id))
        .collect()
}

/// How long the start-up pass waits for the trunk to answer each BYE.
const BYE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What of an answered call's dialog is kept in `live_dialogs` (RFC 3261 §12.1.2).
pub fn live_dialog(d: &InviteDialog) -> LiveDialog {
    let s = d.snapshot();
    LiveDialog {
        sip_call_id: s.id.call_id.clone(),
        local_tag: s.id.local_tag.clone(),
        remote_tag: s.id.remote_tag.clone(),
        from: s.from.to_string(),
        to: s.to.to_string(),
        local_cseq: s.local_cseq,
        remote_cseq: s.remote_cseq,
        local_contact: s.local_contact.as_ref().map(|u| u.to_string()),
        remote_uri: s.remote_uri.to_string(),
        remote_contact: s.remote_contact.as_ref().map(|c| c.value().to_string()),
        route_set: s.route_set.iter().map(|r| r.value().to_string()).collect(),
    }
}

/// The dialog back as rsipstack restores it (a confirmed UAC dialog); `None` when a
/// stored header no longer parses.
fn snapshot(d: &LiveDialog) -> Option<DialogSnapshot> {
    let uri = |s: &str| Uri::try_from(s).ok();
    Some(DialogSnapshot {
        state: DialogSnapshotState::Confirmed,
        role: TransactionRole::Client,
        id: DialogId {
            call_id: d.sip_call_id.clone(),
            local_tag: d.local_tag.clone(),
            remote_tag: d.remote_tag.clone(),
        },
        from: typed::From::parse(&d.from).ok()?,
        to: typed::To::parse(&d.to).ok()?,
        local_cseq: d.local_cseq,
        remote_cseq: d.remote_cseq,
        local_contact: d.local_contact.as_deref().and_then(uri),
        remote_uri: uri(&d.remote_uri)?,
        remote_contact: d.remote_contact.as_deref().map(untyped::Contact::new),
        route_set: d.route_set.iter().map(Route::new).collect(),
        supports_100rel: false,
        session_id: None,
    })
}

/// At start: a BYE (RFC 3261 §15.1.1) for every call a stopped process left answered,
/// so the trunk does not keep a dead call (and bill it) until its own timers give
/// up; then the dialog is forgotten, answered or not. Returns how many BYEs were sent.
pub async fn bye_dead_dialogs(store: &Store, agent: &SipAgent) -> Result<usize, StoreError> {
    let mut sent = 0;
    for (call, live) in store.interrupted_dialogs().await? {
        match snapshot(&live) {
            Some(snap) => {
                if bye(agent, snap).await {
                    sent += 1;
                }
            }
            None => warn!(call = %call, "stored dialog does not parse: no BYE"),
        }
        store.forget_live_dialog(&call).await?;
    }
    Ok(sent)
}

async fn bye(agent: &SipAgent, snap: DialogSnapshot) -> bool {
    let id = snap.id.clone();
    let dialogs = agent.dialogs();
    let (state_tx, _states) = dialogs.new_dialog_state_channel();
    if let Err(e) = dialogs.restore_from_snapshot(snap, state_tx) {
        warn!(error = %e, "cannot restore a dead call's dialog");
        return false;
    }
    let Some(Dialog::Invite(dialog)) = dialogs.get_dialog(&id) else {
        return false;
    };
    match tokio::time::timeout(BYE_TIMEOUT, dialog.bye()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "BYE for a dead call failed"),
        Err(_) => warn!("no answer to the BYE for a dead call"),
    }
    dialogs.remove_dialog(&id);
    info!(call_id = %id.call_id, "BYE sent for a call the last process left up");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> LiveDialog {
        LiveDialog {
            sip_call_id: "abc@carecall".into(),
            local_tag: "ours".into(),
            remote_tag: "theirs".into(),
            from: "\"1022\" <sip:1022@198.51.100.1:5060>;tag=ours".into(),
            to: "<sip:0901234567@198.51.100.1:5060>;tag=theirs".into(),
            local_cseq: 1,
            remote_cseq: 0,
            local_contact: Some("sip:1022@192.0.2.1:5080".into()),
            remote_uri: "sip:callee@198.51.100.2:5060;transport=UDP".into(),
            remote_contact: Some("<sip:callee@198.51.100.2:5060>".into()),
            route_set: vec!["<sip:198.51.100.1;lr>".into()],
        }
    }

    #[test]
    fn a_stored_dialog_restores_as_a_confirmed_uac_dialog() {
        let snap = snapshot(&stored()).expect("parses");
        assert_eq!(snap.state, DialogSnapshotState::Confirmed);
        assert_eq!(snap.role, TransactionRole::Client);
        assert_eq!(
            (
                snap.id.call_id.as_str(),
                snap.id.local_tag.as_str(),
                snap.id.remote_tag.as_str()
            ),
            ("abc@carecall", "ours", "theirs")
        );
        assert_eq!(snap.local_cseq, 1, "the BYE takes the next CSeq");
        assert_eq!(
            snap.remote_uri.to_string(),
            "sip:callee@198.51.100.2:5060;transport=UDP"
        );
        assert_eq!(snap.route_set.len(), 1);
        assert_eq!(snap.from.tag().map(|t| t.to_string()), Some("ours".into()));
    }

    #[test]
    fn a_corrupt_stored_dialog_is_refused() {
        let mut d = stored();
        d.from = "<<<".into();
        assert!(snapshot(&d).is_none(), "From");
        let mut d = stored();
        d.to = String::new();
        assert!(snapshot(&d).is_none(), "To");
    }
}
