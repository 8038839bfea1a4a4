//! What a process that died mid-call left behind, put right at the next start.
//!
//! `kill -9`, a power cut or an OOM kill leave each live call's row `in_progress`
//! (turned `interrupted` by [`Store::mark_interrupted`]) and its recording on disk
//! with a stale header and no `recordings` row, so the review page had nothing to
//! play. [`link_recordings`] repairs each such file and links it to its call.

use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::media::recorder::recover;
use crate::store::{CallRecord, NewRecording, Store, StoreError};

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
