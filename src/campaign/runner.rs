//! The dialer loop of `carecall serve`: every tick it claims due targets of the
//! running campaigns (inside their call windows, within their pacing limits and
//! daily target), places the calls, and schedules each target's next attempt.
//!
//! Claims go through the database (see `store::targets`), so several `serve`
//! processes on one PostgreSQL share the work, and a process killed mid-call
//! leaves its targets to `recover_stale`, which never re-dials within the retry
//! window.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, warn};

use super::policy::CampaignPolicy;
use crate::call::{CallError, CallRequest, CallServices, Disposition, place_call};
use crate::dialer::pacing::{Limits, Pacer};
use crate::dialer::schedule::Next;
use crate::store::{
    CallId, CampaignMode, CampaignRecord, CampaignStatus, StoreError, TargetRecord,
};

/// How often the loop looks for due targets (finer than the pacing it serves).
const TICK: Duration = Duration::from_millis(200);
/// A claim outlives the longest call (ring timeout + the dialplan's 15 min
/// limit + teardown and database retries), so a live call is never recovered.
const LEASE: Duration = Duration::from_secs(30 * 60);
/// A target whose call was cut off by a crash is not dialled again before this.
const RECOVERY_RETRY: Duration = Duration::from_secs(30 * 60);
/// Stale-claim recovery runs about once a minute.
const RECOVER_EVERY_TICKS: u64 = 300;
/// Consecutive unreachable-trunk failures that raise the `trunk_down` alarm.
const TRUNK_DOWN_AFTER: u32 = 3;

pub struct Runner {
    svc: Arc<CallServices>,
    node: String,
    limits: Mutex<Limits>,
    trunk_failures: std::sync::atomic::AtomicU32,
    /// While the trunk is down, no new call starts before this instant.
    backoff_until: Mutex<Option<tokio::time::Instant>>,
}

impl Runner {
    pub fn new(
        svc: Arc<CallServices>,
        node: String,
        max_concurrent: usize,
        cps: f64,
    ) -> Arc<Runner> {
        Arc::new(Runner {
            svc,
            node,
            limits: Mutex::new(Limits::new(Pacer::new(max_concurrent, cps))),
            trunk_failures: Default::default(),
            backoff_until: Mutex::new(None),
        })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Runs until `stop` is cancelled, then releases unstarted claims.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        // Our own claims from before a restart (same node name) are taken back at
        // once; a dialled one counts as interrupted and waits the retry window.
        match self
            .svc
            .store
            .recover_node(&self.node, Utc::now(), RECOVERY_RETRY)
            .await
        {
            Ok(r) => info!(?r, "recovered this node's targets from before the restart"),
            Err(e) => warn!(error = %e, "could not recover this node's targets"),
        }
        let mut ticker = tokio::time::interval(TICK);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            // Other nodes' expired leases (a node that died) are recovered by
            // whichever node looks first.
            if ticks.is_multiple_of(RECOVER_EVERY_TICKS) {
                if let Err(e) = self
                    .svc
                    .store
                    .recover_stale(Utc::now(), RECOVERY_RETRY)
                    .await
                {
                    warn!(error = %e, "could not recover stale targets");
                }
                if let Err(e) = self.finish_done_campaigns().await {
                    warn!(error = %e, "could not close finished campaigns");
                }
            }
            ticks += 1;
            if let Err(e) = self.clone().tick(Utc::now()).await {
                warn!(error = %e, "dialer tick failed");
            }
        }
        if let Err(e) = self.svc.store.release_claims(&self.node).await {
            warn!(error = %e, "could not release claims");
        }
    }

    async fn tick(self: Arc<Self>, now: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(until) = *self.backoff_until.lock().await
            && tokio::time::Instant::now() < until
        {
            return Ok(());
        }
        for campaign in self.svc.store.running_campaigns().await? {
            if campaign.mode == CampaignMode::Operator {
                // Operator campaigns dial only when an operator is free: that
                // needs the live-operator feature; never run them as IVR calls.
                continue;
            }
            let policy = match CampaignPolicy::from_record(&campaign) {
                Ok(p) => p,
                Err(e) => {
                    warn!(campaign = %campaign.id, error = %e, "campaign settings unreadable; skipped");
                    continue;
                }
            };
            if !policy.windows.is_open(now) {
                continue;
            }
            let started_today = self
                .svc
                .store
                .calls_started_since(&campaign.id, policy.local_midnight(now))
                .await?;
            let mut left_today = u64::from(campaign.daily_target).saturating_sub(started_today);
            self.limits.lock().await.ensure_campaign(
                campaign.id.as_str(),
                Pacer::new(campaign.max_concurrent as usize, campaign.calls_per_second),
            );
            // Pacing is asked first and charged only when a target was claimed,
            // so a campaign with nothing due never takes another's turn.
            while left_today > 0 {
                let id = campaign.id.as_str();
                let may = self
                    .limits
                    .lock()
                    .await
                    .next_start(id, std::time::Instant::now())
                    .is_some_and(|t| t <= std::time::Instant::now());
                if !may {
                    break;
                }
                let Some(target) = self
                    .svc
                    .store
                    .claim_due(&self.node, &campaign.id, now, 1, LEASE)
                    .await?
                    .pop()
                else {
                    break;
                };
                if target.attempts >= policy.retry.max_attempts {
                    // e.g. the last allowed attempt was cut off by a crash.
                    self.svc
                        .store
                        .close_target(&target.id, &self.node, "max_attempts")
                        .await?;
                    continue;
                }
                if !self
                    .limits
                    .lock()
                    .await
                    .try_start(id, std::time::Instant::now())
                {
                    self.svc
                        .store
                        .defer_target(&target.id, &self.node, now)
                        .await?;
                    break;
                }
                left_today -= 1;
                self.clone().start(campaign.clone(), policy.clone(), target);
            }
        }
        Ok(())
    }

    /// A running campaign whose every target is done is finished.
    async fn finish_done_campaigns(&self) -> Result<(), StoreError> {
        for c in self.svc.store.running_campaigns().await? {
            let p = self.svc.store.campaign_progress(&c.id).await?;
            if p.total() > 0 && p.done == p.total() {
                info!(campaign = %c.id, "every target done: campaign finished");
                // Another node may have finished it first: that is fine.
                let _ = self
                    .svc
                    .store
                    .set_campaign_status(&c.id, CampaignStatus::Finished)
                    .await;
            }
        }
        Ok(())
    }

    /// Places one claimed target's call in its own task.
    fn start(
        self: Arc<Self>,
        campaign: CampaignRecord,
        policy: CampaignPolicy,
        target: TargetRecord,
    ) {
        let span =
            tracing::info_span!("target", campaign = %campaign.id, dossier = %target.dossier_code);
        tokio::spawn(
            async move {
                let row = CallId::new_v4();
                if let Err(e) = self
                    .svc
                    .store
                    .mark_dialling(&target.id, &self.node, &row)
                    .await
                {
                    warn!(error = %e, "claim lost before dialling; not calling");
                    self.limits.lock().await.finished(campaign.id.as_str());
                    return;
                }
                let request = CallRequest {
                    target: target.phone.clone(),
                    dialplan: campaign.dialplan.clone(),
                    dossier: Some(target.dossier_code.clone()),
                    row_id: Some(row),
                    campaign: Some((campaign.id.clone(), target.id.clone())),
                    ..Default::default()
                };
                let result = place_call(&self.svc, request).await;
                self.limits.lock().await.finished(campaign.id.as_str());
                match result {
                    Ok(report) => {
                        let _ = self.svc.store.clear_alarm("call_setup").await;
                        self.note_trunk(report.disposition, &report.reason).await;
                        self.schedule_next(&policy, &target, report.disposition)
                            .await;
                    }
                    Err(CallError::DoNotCall(_)) => {
                        // Listed after the sample was drawn: never call.
                        self.schedule_next(&policy, &target, Disposition::DoNotCall)
                            .await;
                    }
                    Err(e) => self.not_placed(&target, &e).await,
                }
            }
            .instrument(span),
        );
    }

    /// The call could not be set up at all (our fault, not the citizen's): the
    /// target waits without losing an attempt, and an alarm says why.
    async fn not_placed(&self, target: &TargetRecord, e: &CallError) {
        warn!(error = %e, "call not placed; target deferred");
        let until = Utc::now() + chrono::Duration::minutes(10);
        if let Err(e) = self
            .svc
            .store
            .defer_target(&target.id, &self.node, until)
            .await
        {
            warn!(error = %e, "could not defer the target");
        }
        let _ = self
            .svc
            .store
            .raise_alarm("call_setup", &format!("calls cannot be placed: {e}"))
            .await;
    }

    async fn schedule_next(
        &self,
        policy: &CampaignPolicy,
        target: &TargetRecord,
        disposition: Disposition,
    ) {
        let attempts = target.attempts.saturating_add(1);
        let next = policy
            .retry
            .next_attempt(disposition, attempts, Utc::now(), &policy.windows);
        let (at, final_reason) = match &next {
            Next::Retry { at } => (Some(*at), None),
            Next::Final { reason } => (None, Some(format!("{reason:?}").to_lowercase())),
        };
        info!(
            disposition = disposition.as_str(),
            ?next,
            "attempt finished"
        );
        if let Err(e) = self
            .svc
            .store
            .finish_attempt(
                &target.id,
                &self.node,
                disposition.as_str(),
                at,
                final_reason.as_deref(),
            )
            .await
        {
            warn!(error = %e, "could not record the attempt's outcome");
        }
    }

    /// Raises `trunk_down` after repeated unreachable-trunk failures and backs
    /// off new calls; clears it on the next call the trunk answers at all.
    async fn note_trunk(&self, disposition: Disposition, reason: &str) {
        use std::sync::atomic::Ordering;
        if disposition == Disposition::Failed && reason.contains("trunk unreachable") {
            let n = self.trunk_failures.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= TRUNK_DOWN_AFTER {
                let wait = Duration::from_secs(30).saturating_mul(n.min(10));
                *self.backoff_until.lock().await = Some(tokio::time::Instant::now() + wait);
                warn!(
                    failures = n,
                    backoff_secs = wait.as_secs(),
                    "trunk down: backing off"
                );
                let _ = self
                    .svc
                    .store
                    .raise_alarm(
                        "trunk_down",
                        &format!("{n} calls in a row got no response from the trunk"),
                    )
                    .await;
            }
        } else if self.trunk_failures.swap(0, Ordering::SeqCst) > 0 {
            *self.backoff_until.lock().await = None;
            let _ = self.svc.store.clear_alarm("trunk_down").await;
        }
    }
}
