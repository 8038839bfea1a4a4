//! One outbound call's life: dial through the trunk, run media and the IVR on the
//! answered leg, and store the attempt, every answer and the recording.
//!
//! The driver here only moves datagrams, fires the 20 ms tick and relays SIP
//! dialog events; decisions live in [`session::MediaSession`] (media + IVR) and
//! in rsipstack's transaction/dialog layers.

pub mod disposition;
mod operator;
pub mod ports;
pub mod recovery;
pub mod report;
pub mod session;
mod signalling;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::config::Config;
use crate::ivr::dialplan::{Dialplan, DialplanError};
use crate::media::codec::Codec;
use crate::media::prompt::PromptStore;
use crate::sip::agent::{SipAgent, SipError};
use crate::sip::uac::TrunkRoute;
use crate::store::{Dossier, Store, StoreError};
pub use disposition::Disposition;
pub use report::CallReport;

/// Failures that stop a call before any SIP message is sent.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("invalid destination {target:?}: {source}")]
    Number {
        target: String,
        source: crate::number::NumberError,
    },
    #[error("{0} is on the do-not-call list")]
    DoNotCall(String),
    #[error("unknown dossier {0:?} (import it first)")]
    UnknownDossier(String),
    #[error("dialplan {name}: {source}")]
    Dialplan {
        name: String,
        source: Box<DialplanError>,
    },
    #[error("dialplan {name} is invalid: {problems}")]
    DialplanInvalid { name: String, problems: String },
    #[error(transparent)]
    Ports(#[from] ports::PortsExhausted),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sip(#[from] SipError),
    #[error("cannot create the recording: {0}")]
    Recording(#[from] crate::media::recorder::RecordingError),
}

/// Everything a call needs, shared by all calls of a process.
pub struct CallServices {
    pub config: Arc<Config>,
    pub agent: Arc<SipAgent>,
    pub route: TrunkRoute,
    pub store: Store,
    pub prompts: Arc<PromptStore>,
    pub codecs: Vec<Codec>,
    pub ports: Arc<ports::RtpPorts>,
    /// `media.trunk_sources`: who besides the SDP's address may send a call's RTP.
    pub media_sources: crate::media::rtp::MediaSources,
    /// Live operators: where a dialplan's bridge node finds one.
    pub operators: Arc<crate::bridge::OperatorQueue>,
    /// Browser softphone pages (shared with the HTTP server that hosts them).
    pub webphones: crate::webrtc::WebPhones,
    /// The trunk registration's state, when `trunk.register` is on.
    pub registration:
        Option<tokio::sync::watch::Receiver<crate::sip::registration::RegistrationState>>,
    /// The survey form: which answers make a response complete, which are
    /// kept when a retry resumes a dossier's response.
    pub questionnaire: Arc<crate::questionnaire::Questionnaire>,
}

impl CallServices {
    /// Loads and validates a dialplan by name from the configured directory.
    pub fn dialplan(&self, name: &str) -> Result<Arc<Dialplan>, CallError> {
        let path = self.config.ivr.dialplans_dir.join(format!("{name}.toml"));
        let plan = Dialplan::load(&path).map_err(|source| CallError::Dialplan {
            name: name.to_string(),
            source: Box::new(source),
        })?;
        let prompts = self.prompts.clone();
        plan.validate(&move |p: &str| prompts.exists(p))
            .map_err(|problems| CallError::DialplanInvalid {
                name: name.to_string(),
                problems: problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            })?;
        Ok(Arc::new(plan))
    }

    fn recording_path(&self, call_id: &str) -> PathBuf {
        recording_file(&self.config.recordings.dir, chrono::Utc::now(), call_id)
    }
}

/// Where the recording of the call with SIP Call-ID `call_id`, started at `at`, lives:
/// `<dir>/YYYY/MM/DD/<call-id with unsafe characters as _>.wav`. One place, so the
/// start-up recovery finds what a crashed call wrote.
pub(crate) fn recording_file(
    dir: &std::path::Path,
    at: chrono::DateTime<chrono::Utc>,
    call_id: &str,
) -> PathBuf {
    let safe: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(at.format("%Y/%m/%d").to_string())
        .join(format!("{safe}.wav"))
}

/// What to call and how.
#[derive(Debug, Clone, Default)]
pub struct CallRequest {
    /// A Vietnamese phone number in any usual form, or a SIP URI.
    pub target: String,
    pub dialplan: String,
    pub dossier: Option<String>,
    /// The SIP Call-ID to use (the dialer records it before dialling); new if None.
    pub sip_call_id: Option<String>,
    /// The call row id to use (the dialer records it on the target first); new if None.
    pub row_id: Option<crate::store::CallId>,
    /// The campaign and target this attempt belongs to.
    pub campaign: Option<(crate::store::CampaignId, crate::store::TargetId)>,
    /// An operator already claimed (`on_call`) for this call: progressive
    /// dialling and click-to-call. The dialplan's bridge rings only them, and
    /// they are released if the call never reaches them.
    pub operator: Option<crate::store::OperatorId>,
}

/// Places one call and returns its report. Errors are returned only when the
/// call could not be attempted at all; every attempt that was dialled ends in
/// a report (and a database row), whatever happened on the line.
pub async fn place_call(svc: &CallServices, req: CallRequest) -> Result<CallReport, CallError> {
    let plan = svc.dialplan(&req.dialplan)?;
    let dossier = match &req.dossier {
        Some(code) => Some(
            svc.store
                .dossier(code)
                .await?
                .ok_or_else(|| CallError::UnknownDossier(code.clone()))?,
        ),
        None => None,
    };
    let target = resolve_target(svc, &req.target)?;
    if svc
        .store
        .is_do_not_call(&crate::number::canonical(&target))
        .await?
    {
        return Err(CallError::DoNotCall(crate::pii::mask_phone(&target)));
    }
    let call_id = req
        .sip_call_id
        .clone()
        .unwrap_or_else(|| format!("{}@carecall", uuid::Uuid::new_v4()));
    let span = tracing::info_span!("call", call_id = %call_id);
    let vars = dossier.as_ref().map(dossier_vars).unwrap_or_default();
    signalling::run(svc, plan, &req, target, call_id, vars, dossier)
        .instrument(span)
        .await
}

fn resolve_target(svc: &CallServices, target: &str) -> Result<String, CallError> {
    if target.starts_with("sip:") || target.starts_with("sips:") {
        return Ok(target.to_string());
    }
    crate::number::normalize(target, svc.config.trunk.number_format).map_err(|source| {
        CallError::Number {
            target: crate::pii::mask_phone(target),
            source,
        }
    })
}

/// Call variables the dialplan can name: the dossier's procedure, field and
/// place, raw and as prompt slugs (`field/{field_slug}`).
pub fn dossier_vars(d: &Dossier) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    let mut put = |k: &str, v: &str| {
        if !v.trim().is_empty() {
            vars.insert(k.to_string(), v.to_string());
            vars.insert(format!("{k}_slug"), slug(v));
        }
    };
    put("procedure", &d.procedure);
    put("field", &d.field);
    put("unit", &d.unit_code);
    vars.insert("dossier".into(), d.code.clone());
    vars
}

/// ASCII slug of a Vietnamese name: "Đất đai" → "dat-dai".
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(fold_vietnamese) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn fold_vietnamese(c: char) -> Option<char> {
    const GROUPS: &[(&str, char)] = &[
        ("àáạảãâầấậẩẫăằắặẳẵ", 'a'),
        ("ÀÁẠẢÃÂẦẤẬẨẪĂẰẮẶẲẴ", 'a'),
        ("èéẹẻẽêềếệểễ", 'e'),
        ("ÈÉẸẺẼÊỀẾỆỂỄ", 'e'),
        ("ìíịỉĩ", 'i'),
        ("ÌÍỊỈĨ", 'i'),
        ("òóọỏõôồốộổỗơờớợởỡ", 'o'),
        ("ÒÓỌỎÕÔỒỐỘỔỖƠỜỚỢỞỠ", 'o'),
        ("ùúụủũưừứựửữ", 'u'),
        ("ÙÚỤỦŨƯỪỨỰỬỮ", 'u'),
        ("ỳýỵỷỹ", 'y'),
        ("ỲÝỴỶỸ", 'y'),
        ("đĐ", 'd'),
    ];
    if c.is_ascii() {
        return Some(c);
    }
    GROUPS
        .iter()
        .find(|(set, _)| set.contains(c))
        .map(|(_, base)| *base)
        .or(Some(' '))
}

/// How long to wait for the trunk to answer a BYE or CANCEL before giving up.
pub(crate) const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn slugs_fold_vietnamese() {
        assert_eq!(slug("Đất đai"), "dat-dai");
        assert_eq!(slug("Hộ tịch"), "ho-tich");
        assert_eq!(slug("TP. Cao Lãnh"), "tp-cao-lanh");
        assert_eq!(slug("  Huyện Lấp Vò "), "huyen-lap-vo");
    }
}
