//! `GET /api/v1/live`: calls in progress, operator states, running campaigns
//! and open alarms as
//! a server-sent event stream (one `snapshot` event whenever something
//! changed, polled from the database every second so that every node's calls
//! show up, whichever node serves the page).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::auth::Permission;
use crate::report::ReportFilter;
use crate::store::{CampaignStatus, disposition};

/// How often the database is read for changes.
const POLL: Duration = Duration::from_secs(1);

/// One snapshot of what is going on, within the user's scope.
pub async fn snapshot(s: &AppState, p: &Principal) -> Result<Value, ApiError> {
    let filter = ReportFilter {
        disposition: Some(disposition::IN_PROGRESS.into()),
        units: p.scope.unit_codes(),
        ..Default::default()
    };
    let calls = s.store.list_calls(&filter, None, 500).await?.items;
    let running: Vec<Value> = s
        .store
        .campaigns_in(p.scope.unit_codes().as_deref())
        .await?
        .into_iter()
        .filter(|c| c.status == CampaignStatus::Running)
        .map(|c| json!({ "id": c.id, "name": c.name }))
        .collect();
    let alarms = s.store.open_alarms().await?;
    let operators: Vec<Value> = s
        .store
        .operators()
        .await?
        .into_iter()
        .filter(|o| p.scope.allows(o.unit_code.as_deref()) || o.unit_code.is_none())
        .map(|o| {
            json!({
                "username": o.username, "display_name": o.display_name,
                "state": o.state, "since": o.state_since,
            })
        })
        .collect();
    Ok(json!({
        "calls": calls,
        "operators": operators,
        "campaigns": running,
        "alarms": alarms,
    }))
}

pub async fn live(
    p: Principal,
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    p.require(Permission::ReadLive)?;
    let first = snapshot(&s, &p).await?;
    let stream = futures::stream::unfold(
        (s, p, Some(first), None::<String>),
        |(s, p, mut pending, mut last)| async move {
            loop {
                let snap = match pending.take() {
                    Some(v) => Ok(v),
                    None => {
                        tokio::time::sleep(POLL).await;
                        snapshot(&s, &p).await
                    }
                };
                let event = match snap {
                    Ok(v) => {
                        let text = v.to_string();
                        if last.as_deref() == Some(text.as_str()) {
                            continue;
                        }
                        last = Some(text.clone());
                        Event::default().event("snapshot").data(text)
                    }
                    // The stream stays up through a database hiccup; the page shows it.
                    Err(e) => Event::default().event("error").data(e.to_string()),
                };
                return Some((Ok(event), (s, p, None, last)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
