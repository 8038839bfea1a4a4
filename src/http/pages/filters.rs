//! Small pure helpers the templates call as filters: Vietnamese dates and
//! labels, percentages, durations and URL encoding.

use chrono::{DateTime, Utc};

/// `2026-10-05T02:30:00Z` → `05/10/2026 09:30` (Vietnam time, the brief's
/// only calendar). Anything unparsable is shown as it is.
pub fn vn_datetime(s: &str) -> String {
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t
            .with_timezone(&crate::intake::vietnam())
            .format("%d/%m/%Y %H:%M")
            .to_string(),
        Err(_) => s.to_string(),
    }
}

/// The Vietnam calendar day of an instant, `YYYY-MM-DD`.
pub fn vn_day(t: DateTime<Utc>) -> String {
    t.with_timezone(&crate::intake::vietnam())
        .format("%Y-%m-%d")
        .to_string()
}

/// `0.8123` → `81,2%` (Vietnamese uses the decimal comma).
pub fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "–".into();
    }
    format!("{:.1}%", ratio * 100.0).replace('.', ",")
}

/// Seconds → `m:ss` for the answer marks of the audio player.
pub fn clock(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".into();
    }
    let s = seconds.floor() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// A call's disposition as the supervisors say it.
pub fn disposition_vi(d: &str) -> String {
    match d {
        "in_progress" => "Đang gọi",
        "answered" => "Nghe máy",
        "completed" => "Hoàn thành khảo sát",
        "no_input" => "Nghe máy, không trả lời",
        "busy" => "Máy bận",
        "no_answer" => "Không nghe máy",
        "rejected" => "Từ chối",
        "failed" => "Lỗi kết nối",
        "interrupted" => "Bị gián đoạn",
        "declined" => "Từ chối khảo sát",
        "do_not_call" => "Xin không gọi lại",
        other => other,
    }
    .to_string()
}

/// A campaign status in Vietnamese.
pub fn status_vi(s: &str) -> String {
    match s {
        "draft" => "Nháp",
        "running" => "Đang chạy",
        "paused" => "Tạm dừng",
        "stopped" => "Đã dừng",
        "finished" => "Đã kết thúc",
        other => other,
    }
    .to_string()
}

/// A survey response's status in Vietnamese.
pub fn response_vi(s: &str) -> String {
    match s {
        "in_progress" => "Đang thực hiện",
        "completed" => "Hoàn thành",
        "partial" => "Dở dang",
        "interrupted" => "Bị gián đoạn",
        "not_started" => "Chưa trả lời câu nào",
        other => other,
    }
    .to_string()
}

/// Where a unit's quota stands, in Vietnamese.
pub fn quota_vi(s: &str) -> String {
    match s {
        "reached" => "Đã đạt",
        "on_track" => "Đúng tiến độ",
        "falling_short" => "Chậm tiến độ",
        other => other,
    }
    .to_string()
}

/// A unit level in Vietnamese.
pub fn level_vi(s: &str) -> String {
    match s {
        "province" => "Tỉnh",
        "district" => "Huyện",
        "commune" => "Xã",
        other => other,
    }
    .to_string()
}

/// Where a complaint stands, in Vietnamese.
pub fn complaint_state_vi(s: &str) -> String {
    match s {
        "open" => "Chưa xử lý",
        "forwarded" => "Đã chuyển đơn vị",
        "resolved" => "Đã giải quyết",
        other => other,
    }
    .to_string()
}

/// A step of a complaint's history, in Vietnamese.
pub fn complaint_action_vi(s: &str) -> String {
    match s {
        "opened" => "Bắt đầu theo dõi",
        "forwarded" => "Chuyển đơn vị",
        "note" => "Ghi chú",
        "resolved" => "Đã giải quyết",
        "reopened" => "Mở lại",
        other => other,
    }
    .to_string()
}

/// An operator's state, in the words of the live view.
pub fn operator_state_vi(s: &str) -> String {
    match s {
        "offline" => "Ngoại tuyến",
        "available" => "Sẵn sàng",
        "on_call" => "Đang gọi",
        "wrap_up" => "Hoàn tất cuộc gọi",
        "paused" => "Tạm nghỉ",
        other => other,
    }
    .to_string()
}

/// Percent-encodes everything but RFC 3986 §2.3 unreserved characters, so a
/// value can sit in a query string or a path segment.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Registers the filters on a template environment.
pub fn register(env: &mut minijinja::Environment<'static>) {
    env.add_filter("vn_datetime", |s: String| vn_datetime(&s));
    env.add_filter("percent", percent);
    env.add_filter("clock", clock);
    env.add_filter("disposition_vi", |s: String| disposition_vi(&s));
    env.add_filter("status_vi", |s: String| status_vi(&s));
    env.add_filter("level_vi", |s: String| level_vi(&s));
    env.add_filter("response_vi", |s: String| response_vi(&s));
    env.add_filter("quota_vi", |s: String| quota_vi(&s));
    env.add_filter("complaint_state_vi", |s: String| complaint_state_vi(&s));
    env.add_filter("complaint_action_vi", |s: String| complaint_action_vi(&s));
    env.add_filter("operator_state_vi", |s: String| operator_state_vi(&s));
    env.add_filter("url", |s: String| url_encode(&s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_are_shown_in_vietnam_time() {
        assert_eq!(vn_datetime("2026-10-05T02:30:00Z"), "05/10/2026 09:30");
        assert_eq!(vn_datetime("not a date"), "not a date");
        // 18:00 UTC is already the next day in Vietnam (UTC+7).
        let t = Utc.with_ymd_and_hms(2026, 10, 5, 18, 0, 0).unwrap();
        assert_eq!(vn_day(t), "2026-10-06");
    }

    #[test]
    fn numbers_use_the_decimal_comma() {
        assert_eq!(percent(0.8123), "81,2%");
        assert_eq!(percent(f64::NAN), "–");
        assert_eq!(clock(65.9), "1:05");
        assert_eq!(clock(-1.0), "–");
    }

    #[test]
    fn labels_and_encoding() {
        assert_eq!(disposition_vi("busy"), "Máy bận");
        assert_eq!(disposition_vi("odd"), "odd");
        assert_eq!(status_vi("running"), "Đang chạy");
        assert_eq!(level_vi("commune"), "Xã");
        assert_eq!(response_vi("partial"), "Dở dang");
        assert_eq!(quota_vi("falling_short"), "Chậm tiến độ");
        assert_eq!(complaint_state_vi("forwarded"), "Đã chuyển đơn vị");
        assert_eq!(complaint_action_vi("reopened"), "Mở lại");
        assert_eq!(operator_state_vi("wrap_up"), "Hoàn tất cuộc gọi");
        assert_eq!(url_encode("/a b?x=Đ"), "%2Fa%20b%3Fx%3D%C4%90");
    }
}
