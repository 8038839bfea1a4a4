//! `carecall serve`: the SIP side, the campaign dialer and the HTTP API in one
//! process, until Ctrl-C or SIGTERM; then claims not yet dialled are released
//! and calls in progress finish.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::call::CallServices;
use crate::campaign::runner::Runner;
use crate::http::{AppState, ServeError};

#[derive(Debug, thiserror::Error)]
pub enum ServeFailed {
    #[error(transparent)]
    Http(#[from] ServeError),
    #[error("units: {0}")]
    Units(#[from] crate::campaign::UnitsLoadError),
}

/// The node name used in claims: configured, else hostname-pid.
pub fn node_name(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "carecall".into());
    format!("{host}-{}", std::process::id())
}

pub async fn run(svc: Arc<CallServices>, stop: CancellationToken) -> Result<(), ServeFailed> {
    let cfg = svc.config.clone();
    if cfg.dialer.units_file.exists() {
        let n = crate::campaign::load_units(&svc.store, &cfg.dialer.units_file).await?;
        info!(units = n, file = %cfg.dialer.units_file.display(), "units loaded");
    } else {
        warn!(file = %cfg.dialer.units_file.display(), "units file not found; units come from the API");
    }
    let node = node_name(&cfg.dialer.node);
    let runner = Runner::new(
        svc.clone(),
        node.clone(),
        cfg.dialer.max_concurrent as usize,
        cfg.dialer.calls_per_second,
    );
    let dialer = tokio::spawn(runner.run(stop.clone()));
    if cfg.registrar.enabled {
        // Phones' bindings are read with their expiry; this only empties the table.
        tokio::spawn(crate::sip::registrar::handler::expire_loop(
            svc.store.clone(),
            std::time::Duration::from_secs(30),
            stop.clone(),
        ));
    }
    let mut state = AppState::new(svc.store.clone(), cfg.clone(), node.clone());
    // The pages' softphones and the calls' operator queue must be one registry.
    state.webphones = svc.webphones.clone();
    // Click-to-call from the operator's screen places calls like the dialer.
    state.calls = Some(svc.clone());
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let http = tokio::spawn({
        let stop = stop.clone();
        let bind = cfg.http.bind.clone();
        async move { crate::http::serve(state, &bind, stop, bound_tx).await }
    });
    if let Ok(addr) = bound_rx.await {
        // One line on stdout so scripts and tests can find the API.
        println!(
            "{{\"http\":\"{addr}\",\"sip\":\"{}\",\"node\":\"{node}\"}}",
            svc.agent.local_addr()
        );
    }
    let http_result = http.await;
    stop.cancel();
    if let Err(e) = dialer.await {
        warn!(error = %e, "dialer task ended abnormally");
    }
    match http_result {
        Ok(r) => r.map_err(Into::into),
        Err(e) => {
            warn!(error = %e, "HTTP task ended abnormally");
            Ok(())
        }
    }
}
