//! Operators (điện thoại viên), administrators only: the list with each
//! one's state and since when, and the form to add one through the same
//! function as `carecall operator add` ([`add_operator`]): the SIP password
//! becomes the digest HA1 for `registrar.realm` and is not stored.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{PageError, Viewer, render};
use crate::auth::Permission;
use crate::http::auth::Principal;
use crate::http::operators::{OperatorSignup, SignupError, add_operator};
use crate::http::{AppState, web_redirect};
use crate::store::StoreError;

/// Where the page lives (the operators' own softphone page is `/dien-thoai-vien`).
pub const PATH: &str = "/dien-thoai-vien/quan-ly";

/// A SIP password guessed offline from one captured REGISTER is a phone
/// line taken over: the page asks for at least this many characters.
const MIN_PASSWORD: usize = 8;

/// The form's fields (`csrf` is read by the guard).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OperatorForm {
    username: String,
    display_name: String,
    sip_user: String,
    password: String,
    unit: String,
}

/// `GET /dien-thoai-vien/quan-ly`.
pub async fn list(Viewer(p): Viewer, State(s): State<AppState>) -> Result<Html<String>, PageError> {
    page(&p, &s, StatusCode::OK, "", &OperatorForm::default())
        .await
        .map(|(_, h)| h)
}

async fn page(
    p: &Principal,
    s: &AppState,
    status: StatusCode,
    message: &str,
    sent: &OperatorForm,
) -> Result<(StatusCode, Html<String>), PageError> {
    p.require(Permission::Administer)?;
    let units = s.store.units().await?;
    let name = |code: &str| {
        units
            .iter()
            .find(|u| u.code == code)
            .map_or_else(|| code.to_string(), |u| u.name.clone())
    };
    let operators: Vec<_> = s
        .store
        .operators()
        .await?
        .into_iter()
        .map(|o| {
            json!({
                "username": o.username, "display_name": o.display_name, "sip_user": o.sip_user,
                "unit": o.unit_code.as_deref().map(name), "state": o.state.as_str(),
                "since": o.state_since,
            })
        })
        .collect();
    let ctx = json!({
        "operators": operators, "units": units, "message": message, "path": PATH,
        "realm": s.config.registrar.realm,
        "v": { "username": sent.username, "display_name": sent.display_name,
               "sip_user": sent.sip_user, "unit": sent.unit },
    });
    Ok((status, render::page("operators.html", p, "operators", ctx)?))
}

/// `POST /dien-thoai-vien/quan-ly`: adds an operator; a refused form comes
/// back filled in (never the password) with the reason.
pub async fn create(
    Viewer(p): Viewer,
    State(s): State<AppState>,
    Form(f): Form<OperatorForm>,
) -> Result<Response, PageError> {
    p.require(Permission::Administer)?;
    if f.password.chars().count() < MIN_PASSWORD {
        let msg = format!("Mật khẩu SIP cần ít nhất {MIN_PASSWORD} ký tự.");
        return refused(&p, &s, StatusCode::BAD_REQUEST, &msg, &f).await;
    }
    let signup = OperatorSignup {
        username: &f.username,
        display_name: Some(&f.display_name),
        sip_user: &f.sip_user,
        password: &f.password,
        unit_code: Some(&f.unit),
    };
    let realm = &s.config.registrar.realm;
    match add_operator(&s.store, &signup, realm, Utc::now()).await {
        Ok(op) => {
            let detail = json!({ "username": op.username, "sip_user": op.sip_user,
                                 "unit": op.unit_code });
            p.audit(&s, "operator.create", Some(op.id.as_str()), Some(detail))
                .await?;
            Ok(web_redirect(PATH))
        }
        Err(SignupError::Store(StoreError::Constraint { .. })) => {
            let msg = "Tên đăng nhập hoặc tài khoản SIP này đã có người dùng.";
            refused(&p, &s, StatusCode::CONFLICT, msg, &f).await
        }
        Err(SignupError::Store(e)) => Err(e.into()),
        Err(e) => {
            let msg = format!("Không thêm được điện thoại viên: {}", signup_vi(&e));
            refused(&p, &s, StatusCode::BAD_REQUEST, &msg, &f).await
        }
    }
}

/// Why the form was refused, in Vietnamese.
fn signup_vi(e: &SignupError) -> String {
    match e {
        SignupError::Missing("username") => "thiếu tên đăng nhập.".into(),
        SignupError::Missing("SIP user") => "thiếu tài khoản SIP.".into(),
        SignupError::Missing(_) => "thiếu mật khẩu SIP.".into(),
        SignupError::SipUser(u) => format!(
            "tài khoản SIP {u:?} chỉ được gồm chữ không dấu, chữ số và - _ . ! ~ * ' ( ) & = + $ , ; ? /"
        ),
        SignupError::Store(e) => e.to_string(),
    }
}

async fn refused(
    p: &Principal,
    s: &AppState,
    status: StatusCode,
    msg: &str,
    f: &OperatorForm,
) -> Result<Response, PageError> {
    page(p, s, status, msg, f)
        .await
        .map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_in_vietnamese() {
        assert_eq!(
            signup_vi(&SignupError::Missing("SIP user")),
            "thiếu tài khoản SIP."
        );
        assert!(signup_vi(&SignupError::SipUser("a@b".into())).contains("\"a@b\""));
    }
}
