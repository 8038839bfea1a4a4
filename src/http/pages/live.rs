//! The live view: calls in progress as a server-sent event stream
//! (`text/event-stream`, WHATWG HTML §9.2), and the page that shows it.
//!
//! Calls run on whichever node dialled them, so the stream reads the shared
//! database rather than one process's memory: it polls the in-progress calls
//! of the user's scope every [`POLL`] and sends an event only when the set
//! changed ([`LiveBoard`], pure and unit-tested). The browser's EventSource
//! reconnects by itself; a comment line every 15 s keeps proxies from closing
//! an idle stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::Html;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use serde_json::json;

use super::{PageError, Viewer, render};
use crate::auth::Permission;
use crate::http::auth::Principal;
use crate::http::{ApiError, AppState};
use crate::store::{CallFilter, CallListItem, Store, disposition};

/// How often the stream looks at the database.
pub const POLL: Duration = Duration::from_secs(2);
/// The most calls one event lists.
const MAX_ROWS: i64 = 200;

/// One call in progress, as the live table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveCall {
    pub id: String,
    /// Unix ms; the page shows the running duration.
    pub started_at: i64,
    pub answered: bool,
    /// Masked.
    pub destination: String,
    pub unit: Option<String>,
    pub campaign: Option<String>,
}

impl From<&CallListItem> for LiveCall {
    fn from(c: &CallListItem) -> LiveCall {
        LiveCall {
            id: c.id.to_string(),
            started_at: c.started_at.timestamp_millis(),
            answered: c.answered_at.is_some(),
            destination: c.destination.clone(),
            unit: c.unit_name.clone().or_else(|| c.unit_code.clone()),
            campaign: c.campaign_id.clone(),
        }
    }
}

/// What the client was last sent; decides whether a new snapshot is news.
#[derive(Debug, Default)]
pub struct LiveBoard {
    last: Option<Vec<LiveCall>>,
}

impl LiveBoard {
    /// The event's JSON data if `now` differs from what was last sent (the
    /// first snapshot is always sent, even when empty).
    pub fn update(&mut self, mut now: Vec<LiveCall>) -> Option<String> {
        now.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        if self.last.as_ref() == Some(&now) {
            return None;
        }
        let data = json!({ "calls": now }).to_string();
        self.last = Some(now);
        Some(data)
    }
}

/// The in-progress calls of the scope.
async fn snapshot(store: &Store, units: &Option<Vec<String>>) -> Option<Vec<LiveCall>> {
    let filter = CallFilter {
        disposition: Some(disposition::IN_PROGRESS.into()),
        units: units.clone(),
        ..CallFilter::default()
    };
    match store.list_calls(&filter, None, MAX_ROWS).await {
        Ok(page) => Some(page.items.iter().map(LiveCall::from).collect()),
        Err(e) => {
            // A passing database error skips one poll; the stream goes on.
            tracing::warn!(error = %e, "live view: cannot read calls in progress");
            None
        }
    }
}

/// `GET /api/v1/live`: `event: calls` with `{"calls": [...]}` whenever the
/// set of calls in progress changes.
pub async fn events(
    p: Principal,
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    p.require(Permission::ReadLive)?;
    let units = p.scope.narrow(None);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = futures::stream::unfold(
        (s.store.clone(), units, LiveBoard::default(), tick),
        |(store, units, mut board, mut tick)| async move {
            loop {
                tick.tick().await;
                let Some(now) = snapshot(&store, &units).await else {
                    continue;
                };
                if let Some(data) = board.update(now) {
                    let ev = Event::default().event("calls").data(data);
                    return Some((Ok(ev), (store, units, board, tick)));
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `GET /truc-tiep`: the live page (the table fills from the stream).
pub async fn page(Viewer(p): Viewer) -> Result<Html<String>, PageError> {
    p.require(Permission::ReadLive)?;
    render::page("live.html", &p, "live", json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, at: i64, answered: bool) -> LiveCall {
        LiveCall {
            id: id.into(),
            started_at: at,
            answered,
            destination: "*******678".into(),
            unit: None,
            campaign: None,
        }
    }

    #[test]
    fn only_changes_are_sent() {
        let mut b = LiveBoard::default();
        assert_eq!(b.update(vec![]).as_deref(), Some(r#"{"calls":[]}"#));
        assert_eq!(b.update(vec![]), None);
        let first = b
            .update(vec![call("b", 2, false), call("a", 1, false)])
            .unwrap();
        assert!(
            first.find(r#""id":"a""#) < first.find(r#""id":"b""#),
            "oldest first"
        );
        // Same set in another order: no news.
        assert_eq!(
            b.update(vec![call("a", 1, false), call("b", 2, false)]),
            None
        );
        // Answered: news.
        assert!(
            b.update(vec![call("a", 1, true), call("b", 2, false)])
                .is_some()
        );
        assert!(b.update(vec![call("b", 2, false)]).is_some());
    }
}
