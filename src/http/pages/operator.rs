//! The operator's screen (`/dien-thoai-vien`): my state, the browser
//! softphone, click-to-call, and when a call is connected the dossier, the
//! call controls and the questionnaire (parts I and II) as a form that saves
//! into the call's survey record through `/api/v1/responses/{id}/answers`.
//!
//! The form is rendered here from the questionnaire (the data, not code);
//! `web/static/operator.js` drives the rest (no inline script: the CSP).

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::{PageError, Viewer, render};
use crate::auth::Permission;
use crate::http::AppState;
use crate::questionnaire::Questionnaire;
use crate::store::OperatorState;

/// Where the page lives.
pub const PATH: &str = "/dien-thoai-vien";

/// The page's script (no build step), served at `/static/operator.js`.
pub const OPERATOR_JS: &str = include_str!("../../../web/static/operator.js");

/// `GET /static/operator.js`
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        OPERATOR_JS,
    )
        .into_response()
}

/// Vietnamese name of an operator state.
pub fn state_vi(s: OperatorState) -> &'static str {
    match s {
        OperatorState::Offline => "Ngoại tuyến",
        OperatorState::Available => "Sẵn sàng",
        OperatorState::OnCall => "Đang gọi",
        OperatorState::WrapUp => "Hoàn tất phiếu",
        OperatorState::Paused => "Tạm nghỉ",
    }
}

/// The form's two parts, each with its questions in the file's order.
fn parts(form: &Questionnaire) -> Value {
    let part = |n: u8, label: &str| {
        let qs: Vec<_> = form.questions.iter().filter(|q| q.part == n).collect();
        json!({ "number": n, "label": label, "questions": qs })
    };
    json!([
        part(1, "Phần I. Nội dung khảo sát"),
        part(2, "Phần II. Thông tin người dân"),
    ])
}

/// `GET /dien-thoai-vien`: the operator's screen.
pub async fn page(Viewer(p): Viewer, State(s): State<AppState>) -> Result<Html<String>, PageError> {
    p.require(Permission::OperateCalls)?;
    let op = s
        .store
        .operators()
        .await?
        .into_iter()
        .find(|o| o.username == p.user.username);
    let ctx = json!({
        "operator": op.as_ref().map(|o| json!({
            "username": o.username, "display_name": o.display_name, "state": o.state,
        })),
        "state_label": op.as_ref().map_or("", |o| state_vi(o.state)),
        "title": s.form.title,
        "parts": parts(&s.form),
    });
    render::page("operator.html", &p, "operator", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_has_both_parts_in_order() {
        let v = parts(&Questionnaire::shipped());
        let keys = |i: usize| -> Vec<String> {
            v[i]["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| q["key"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(0)[..2], ["q1", "q1_other"]);
        assert!(keys(0).contains(&"q4".to_string()));
        assert_eq!(keys(1)[0], "for_whom");
        assert!(keys(1).contains(&"gender".to_string()));
        assert_eq!(v[1]["questions"][1]["shown_when"]["key"], "for_whom");
    }
}
