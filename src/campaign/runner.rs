//! The dialer loop of `carecall serve`: every tick it claims due targets of the
//! running campaigns (inside their call windows, within their pacing limits and
//! daily target), places the calls, and schedules each target's next attempt.
//!
//! Claims go through the database (see `store::targets`), so several `serve`
//! processes on one PostgreSQL share the work, and a process killed mid-call
//! leaves its targets to `recover_stale`, which never re-dials within the retry
//! window.
//!
//! Operator campaigns are dialled progressively (`campaign::progressive`): a
//! target is claimed only after a free, reachable operator was, and the call
//! carries that operator in `CallRequest.operator` so the `operator-direct`
//! dialplan bridges them the moment the citizen answers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, warn};

use super::policy::CampaignPolicy;
use super::progressive;
use crate::call::{CallError, CallRequest, CallServices, Disposition, place_call};
use crate::dialer::pacing::{Limits, Pacer};
use crate::dialer::schedule::{Ended, History, Next};
use crate::store::{
    CallId, CampaignId, CampaignMode, CampaignRecord, CampaignStatus, OperatorId, OperatorState,
    StoreError, TargetHistory, TargetRecord,
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
    /// Operator campaigns found with nothing due, resting a moment.
    resting: Mutex<progressive::Resting>,
}

/// A running campaign inside its call window, with calls left today.
struct Open {
    campaign: CampaignRecord,
    policy: CampaignPolicy,
    left_today: u64,
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
            resting: Mutex::new(progressive::Resting::default()),
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
        let mut progressive = Vec::new();
        let mut province_left = self.province_left(now).await?;
        for campaign in self.svc.store.running_campaigns().await? {
            if province_left == 0 {
                break;
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
            let left_today = u64::from(campaign.daily_target)
                .saturating_sub(started_today)
                .min(province_left);
            self.limits.lock().await.ensure_campaign(
                campaign.id.as_str(),
                Pacer::new(campaign.max_concurrent as usize, campaign.calls_per_second),
            );
            if left_today == 0 {
                continue;
            }
            let open = Open {
                campaign,
                policy,
                left_today,
            };
            if open.campaign.mode == CampaignMode::Operator {
                // Dialled only for a free operator, after every campaign was seen.
                progressive.push(open);
            } else {
                let placed = self.clone().dial_ivr(open, now).await?;
                province_left = province_left.saturating_sub(placed);
            }
        }
        if !progressive.is_empty() && province_left > 0 {
            for c in &mut progressive {
                c.left_today = c.left_today.min(province_left);
            }
            self.dial_progressive(progressive, now, province_left)
                .await?;
        }
        Ok(())
    }

    /// Campaign calls the province may still start today (`dialer.daily_cap`,
    /// counted in the database so every node sees the same day); unlimited
    /// when there is no cap.
    async fn province_left(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let cap = self.svc.config.dialer.daily_cap;
        if cap == 0 {
            return Ok(u64::MAX);
        }
        let midnight = CampaignPolicy::province_midnight(now);
        let started = self
            .svc
            .store
            .campaign_calls_started_since(midnight)
            .await?;
        Ok(u64::from(cap).saturating_sub(started))
    }

    /// IVR campaigns: as many due targets as pacing and the daily target allow.
    /// Returns how many calls it started.
    async fn dial_ivr(self: Arc<Self>, mut c: Open, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Pacing is asked first and charged only when a target was claimed,
        // so a campaign with nothing due never takes another's turn.
        let mut placed = 0;
        while c.left_today > 0 && self.may_start(&c.campaign.id).await {
            let Some(target) = self.claim_target(&c, now).await? else {
                break;
            };
            if !self.charge(&c, &target, now).await? {
                break;
            }
            c.left_today -= 1;
            placed += 1;
            self.clone()
                .start(c.campaign.clone(), c.policy.clone(), target, None);
        }
        Ok(placed)
    }

    /// Operator campaigns (progressive dialling): each free operator who can
    /// be reached, longest idle first, is claimed, then one due target of the
    /// campaigns they serve (see `progressive`) is dialled for them. With
    /// nothing due, the operator is given back at once, as idle as before.
    /// At most `province_left` calls in all (`dialer.daily_cap`).
    async fn dial_progressive(
        self: Arc<Self>,
        mut open: Vec<Open>,
        now: DateTime<Utc>,
        mut province_left: u64,
    ) -> Result<(), StoreError> {
        let clock = std::time::Instant::now();
        {
            let mut resting = self.resting.lock().await;
            resting.prune(clock);
            open.retain(|c| !resting.is_resting(&c.campaign.id, clock));
        }
        if open.is_empty() {
            return Ok(());
        }
        for op in self.svc.store.available_operators().await? {
            if province_left == 0 || open.iter().all(|c| c.left_today == 0) {
                break;
            }
            if !self.svc.operators.reachable(&op).await {
                continue;
            }
            if !self.svc.store.claim_operator(&op.id, now).await? {
                continue; // a bridge or another node took them first
            }
            let units: Vec<&[String]> = open
                .iter()
                .map(|c| c.policy.rule.units.as_slice())
                .collect();
            let order = progressive::campaign_order(op.unit_code.as_deref(), &units);
            let placed = self.clone().dial_for(&op.id, &mut open, &order, now).await;
            if !matches!(placed, Ok(true)) {
                // `state_since` put back: a claim that dialled nobody does not
                // cost the operator their place in the idle ranking.
                self.svc
                    .store
                    .move_operator(
                        &op.id,
                        OperatorState::OnCall,
                        OperatorState::Available,
                        op.state_since,
                    )
                    .await?;
            }
            if placed? {
                province_left -= 1;
            }
        }
        Ok(())
    }

    /// Dials the first due target of `open[order..]` for the claimed operator
    /// `op`; false when nothing could be dialled (the caller gives `op` back).
    async fn dial_for(
        self: Arc<Self>,
        op: &OperatorId,
        open: &mut [Open],
        order: &[usize],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        for &i in order {
            let c = &mut open[i];
            if c.left_today == 0
                || self
                    .resting
                    .lock()
                    .await
                    .is_resting(&c.campaign.id, std::time::Instant::now())
                || !self.may_start(&c.campaign.id).await
            {
                continue;
            }
            let Some(target) = self.claim_target(c, now).await? else {
                self.resting
                    .lock()
                    .await
                    .nothing_due(&c.campaign.id, std::time::Instant::now());
                continue;
            };
            if !self.charge(c, &target, now).await? {
                continue;
            }
            c.left_today -= 1;
            self.clone().start(
                c.campaign.clone(),
                c.policy.clone(),
                target,
                Some(op.clone()),
            );
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether the node's and the campaign's pacing allow a call now.
    async fn may_start(&self, campaign: &CampaignId) -> bool {
        let now = std::time::Instant::now();
        self.limits
            .lock()
            .await
            .next_start(campaign.as_str(), now)
            .is_some_and(|t| t <= now)
    }

    /// Claims the campaign's next due target; targets already at their last
    /// attempt (e.g. one cut off by a crash) are closed on the way.
    async fn claim_target(
        &self,
        c: &Open,
        now: DateTime<Utc>,
    ) -> Result<Option<TargetRecord>, StoreError> {
        loop {
            let Some(target) = self
                .svc
                .store
                .claim_due_spaced(
                    &self.node,
                    &c.campaign.id,
                    now,
                    1,
                    LEASE,
                    Duration::from_secs(
                        u64::from(c.policy.retry.same_number_days).saturating_mul(86_400),
                    ),
                )
                .await?
                .pop()
            else {
                return Ok(None);
            };
            if target.attempts < c.policy.retry.max_attempts {
                return Ok(Some(target));
            }
            self.svc
                .store
                .close_target(&target.id, &self.node, "max_attempts")
                .await?;
        }
    }

    /// Charges pacing for a claimed target; when pacing says no after all
    /// (another campaign took the node's turn), the target goes back.
    async fn charge(
        &self,
        c: &Open,
        target: &TargetRecord,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let started = self
            .limits
            .lock()
            .await
            .try_start(c.campaign.id.as_str(), std::time::Instant::now());
        if !started {
            self.svc
                .store
                .defer_target(&target.id, &self.node, now)
                .await?;
        }
        Ok(started)
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
    /// `operator`, claimed for this call (operator campaigns), is rung the
    /// moment the citizen answers; the call gives them back when it never
    /// reaches them, and so does this task when no call was placed at all.
    fn start(
        self: Arc<Self>,
        campaign: CampaignRecord,
        policy: CampaignPolicy,
        target: TargetRecord,
        operator: Option<OperatorId>,
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
                    if let Some(op) = &operator {
                        self.svc.operators.release_reserved(op).await;
                    }
                    return;
                }
                let request = CallRequest {
                    target: target.phone.clone(),
                    dialplan: campaign.dialplan.clone(),
                    dossier: Some(target.dossier_code.clone()),
                    row_id: Some(row),
                    campaign: Some((campaign.id.clone(), target.id.clone())),
                    operator: operator.clone(),
                    ..Default::default()
                };
                let result = place_call(&self.svc, request).await;
                self.limits.lock().await.finished(campaign.id.as_str());
                if let (Err(_), Some(op)) = (&result, &operator) {
                    // Refused before any call existed: nobody else releases them.
                    self.svc.operators.release_reserved(op).await;
                }
                match result {
                    Ok(report) => {
                        let _ = self.svc.store.clear_alarm("call_setup").await;
                        self.note_trunk(report.disposition, &report.reason).await;
                        self.schedule_next(
                            &policy,
                            &target,
                            report.disposition,
                            report.soft_refusal,
                        )
                        .await;
                    }
                    Err(CallError::DoNotCall(_)) => {
                        // Listed after the sample was drawn: never call.
                        self.schedule_next(&policy, &target, Disposition::DoNotCall, false)
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

    /// Decides and records the target's next step from its whole attempt
    /// history (one attempt a day, spread over days, soft refusals).
    async fn schedule_next(
        &self,
        policy: &CampaignPolicy,
        target: &TargetRecord,
        disposition: Disposition,
        soft_refusal: bool,
    ) {
        if soft_refusal
            && let Err(e) = self
                .svc
                .store
                .note_soft_refusal(&target.id, &self.node)
                .await
        {
            warn!(error = %e, "could not count the soft refusal");
        }
        let history = match self.svc.store.target_history(&target.id).await {
            Ok(h) => h,
            Err(e) => {
                // Without it the rules cannot be checked: assume the most
                // cautious history (every attempt made today).
                warn!(error = %e, "could not read the target's attempts");
                TargetHistory {
                    started: vec![Utc::now(); target.attempts as usize + 1],
                    soft_refusals: u32::from(soft_refusal),
                }
            }
        };
        // A call placed before any row existed (refused before dialling) is
        // not in the history; the attempt counter is.
        let mut started = history.started;
        while (started.len() as u32) < target.attempts.saturating_add(1) {
            started.push(Utc::now());
        }
        let last = Ended {
            disposition,
            soft_refusal,
            at: Utc::now(),
        };
        let history = History {
            started,
            soft_refusals: history.soft_refusals,
        };
        let next = policy.retry.next_attempt(last, &history, &policy.windows);
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
