//! The supervisors' pages in a real browser: Debian's headless Chromium,
//! driven over the DevTools protocol, against `carecall::http::serve` on
//! loopback with a seeded SQLite store. Logs in through the form, reads the
//! dashboard and downloads its XLSX exports, creates and starts a campaign,
//! opens a call's review page and corrects an answer there, forwards and
//! resolves the call's complaint, adds an operator, and watches a new call
//! appear in the live view.
//! Screenshots of each page are saved under `target/screenshots/` for a
//! person to look at.
//!
//! Without Chromium (`chromium` on the PATH, or `$CHROMIUM`) the test says
//! "chromium: skipped" and passes; CI installs it (`apt-get install chromium`).

#[path = "web/cdp.rs"]
mod cdp;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use carecall::auth::hash_password;
use carecall::config::Config;
use carecall::http::{AppState, serve};
use carecall::store::{
    AnswerKind, CallOutcome, Dossier, NewAnswer, NewCall, NewRecording, NewUser, Store, UnitRecord,
};

fn at(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, d, 2, 0, 0).unwrap()
}

/// A stereo 8 kHz 16-bit WAV of `seconds`: a tone on each channel (caller
/// and callee legs, as the recorder writes them).
fn write_wav(path: &std::path::Path, seconds: u32) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..seconds * 8000 {
        let t = n as f32 / 8000.0;
        for f in [440.0, 660.0] {
            let s = (t * f * std::f32::consts::TAU).sin() * 8000.0;
            w.write_sample(s as i16).unwrap();
        }
    }
    w.finalize().unwrap();
}

async fn seed(store: &Store, recordings: &std::path::Path) {
    for (code, name, level, parent) in [
        ("P", "Tỉnh Đồng Tháp", "province", None),
        ("D1", "Thành phố Cao Lãnh", "district", Some("P")),
        ("D2", "Huyện Tháp Mười", "district", Some("P")),
    ] {
        store
            .upsert_unit(&UnitRecord {
                code: code.into(),
                name: name.into(),
                level: level.into(),
                parent: parent.map(str::to_string),
            })
            .await
            .unwrap();
    }
    let hash = hash_password("mat-khau-1").unwrap();
    store
        .create_user(&NewUser {
            username: "admin",
            display_name: "Quản trị viên",
            password_hash: &hash,
            role: "admin",
            unit_code: None,
        })
        .await
        .unwrap();
    for i in 0..4 {
        store
            .upsert_dossier(&Dossier {
                code: format!("HS{i}"),
                procedure: "Đăng ký khai sinh".into(),
                field: "Hộ tịch".into(),
                unit_code: if i < 3 { "D1" } else { "D2" }.into(),
                applicant_kind: "person".into(),
                applicant_name: "Trần Thị B".into(),
                phone: format!("090876543{i}"),
                received_at: Some(at(1)),
                returned_at: Some(at(10)),
                created_at: at(1),
            })
            .await
            .unwrap();
    }
    let started = Utc::now() - chrono::Duration::hours(3);
    let call = store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some("HS3".into()),
            sip_call_id: None,
            destination: "0908765433".into(),
            caller_id: "1022".into(),
            dialplan: "survey-1022".into(),
            started_at: started,
        })
        .await
        .unwrap();
    store.call_answered(&call, started).await.unwrap();
    let r = store
        .start_response(&call, Some("HS3"), "survey-1022")
        .await
        .unwrap();
    let call_wav = recordings.join("call.wav");
    let clip_wav = recordings.join("q3.wav");
    write_wav(&call_wav, 12);
    write_wav(&clip_wav, 2);
    for (key, kind, value, offset) in [
        ("q1", AnswerKind::Value, Some("1"), 2_000),
        ("q3", AnswerKind::Clip, None, 5_000),
        ("q4", AnswerKind::Value, Some("9"), 9_000),
    ] {
        store
            .add_answer(
                &r,
                &NewAnswer {
                    key: key.into(),
                    kind,
                    value: value.map(str::to_string),
                    why: None,
                    offset_ms: Some(offset),
                    clip_path: (kind == AnswerKind::Clip).then(|| clip_wav.display().to_string()),
                    clip_seconds: (kind == AnswerKind::Clip).then_some(2.0),
                    clip_sha256: None,
                    answered_at: started,
                },
            )
            .await
            .unwrap();
    }
    store
        .add_recording(
            &call,
            &NewRecording {
                path: call_wav.display().to_string(),
                seconds: 12.0,
                sha256: "00".into(),
                bytes: std::fs::metadata(&call_wav).unwrap().len(),
                created_at: started,
            },
        )
        .await
        .unwrap();
    store
        .finish_call(
            &call,
            &CallOutcome {
                disposition: "answered".into(),
                sip_code: Some(200),
                reason: None,
                end_reason: Some("survey_done".into()),
                ended_at: started + chrono::Duration::seconds(12),
            },
        )
        .await
        .unwrap();
}

/// Plays the recording from an answer's mark: the player's source must
/// answer a Range request with 206, and the mark must move the play head.
async fn play_and_seek(b: &mut cdp::Browser) {
    let partial = b
        .eval(
            "fetch(document.getElementById('player').src, { headers: { Range: 'bytes=0-99' } })\
             .then(r => r.status)",
        )
        .await;
    assert_eq!(partial, json!(206), "the recording answers Range requests");
    b.wait_for("document.getElementById('player').readyState >= 1")
        .await;
    b.eval(
        "[...document.querySelectorAll('button.mark')].find(m => m.textContent === '0:05').click(), true",
    )
    .await;
    b.wait_for(
        "(() => { const p = document.getElementById('player'); \
         return p.currentTime >= 5 && p.currentTime < 8; })()",
    )
    .await;
    b.eval("document.getElementById('player').pause(), true")
        .await;
}

/// The waveform is drawn (pixels of the citizen's colour on the canvas, not
/// only the background) and the clip players know their duration before
/// anyone presses play (they showed 0:00).
async fn waveform_and_clips_drawn(b: &mut cdp::Browser) {
    b.wait_for(
        "(() => { const c = document.getElementById('waveform'); \
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
         let n = 0; for (let i = 0; i < d.length; i += 4) \
           if (d[i] === 0x7f && d[i + 1] === 0xb3 && d[i + 2] === 0xff) n++; \
         return n > 2000; })()",
    )
    .await;
    b.wait_for(
        "[...document.querySelectorAll('audio.clip')].length > 0 && \
         [...document.querySelectorAll('audio.clip')].every(a => a.duration > 1.5 && a.duration < 2.5)",
    )
    .await;
}

/// Fetches `url_js` (a JS expression) in the page, with the session cookie,
/// and returns the first two bytes as text and the length.
async fn download(b: &mut cdp::Browser, url_js: &str) -> (String, u64) {
    let v = b
        .eval(&format!(
            "fetch({url_js}).then(r => r.arrayBuffer()).then(buf => {{ \
             const u = new Uint8Array(buf); \
             return [String.fromCharCode(u[0], u[1]), u.length]; }})"
        ))
        .await;
    (
        v[0].as_str().unwrap_or_default().to_string(),
        v[1].as_u64().unwrap_or(0),
    )
}

/// The dashboard's exports: an XLSX report table and the monthly workbook.
async fn exports(b: &mut cdp::Browser) {
    let href = b
        .eval("document.querySelector('#exports a.export.xlsx').getAttribute('href')")
        .await;
    assert!(
        href.as_str()
            .is_some_and(|h| h.starts_with("/api/v1/reports?by=unit&format=xlsx&from=")),
        "{href}"
    );
    let (magic, len) = download(b, "document.querySelector('#exports a.export.xlsx').href").await;
    assert_eq!(magic, "PK", "an XLSX file is a ZIP archive");
    assert!(len > 2000, "a real workbook, not an error: {len} bytes");
    let (magic, len) = download(
        b,
        "'/api/v1/reports/monthly?month=' + document.querySelector('#monthly [name=month]').value",
    )
    .await;
    assert_eq!(magic, "PK");
    assert!(len > 2000, "{len} bytes");
}

/// The call's complaint: open it from the list, forward it to a unit, resolve it.
async fn follow_complaint(b: &mut cdp::Browser, base: &str, store: &Store) {
    b.goto(&format!("{base}/khieu-nai")).await;
    b.wait_for("document.querySelector('#complaints tbody a')")
        .await;
    b.screenshot(&shot("09-phan-anh.png")).await;
    b.eval(&click("#complaints tbody a")).await;
    b.wait_for("document.getElementById('complaint-state')?.textContent.trim() === 'Chưa xử lý'")
        .await;
    assert_eq!(
        b.eval("!!document.querySelector('#complaint-clip[src$=\"/clips/q3\"]')")
            .await,
        json!(true)
    );
    b.eval(&set("#forward-form [name=unit]", "D1")).await;
    b.eval(&set(
        "#forward-form [name=note]",
        "Đề nghị thành phố xem xét",
    ))
    .await;
    b.eval(&click("#forward-form button[type=submit]")).await;
    b.wait_for(
        "document.getElementById('complaint-state')?.textContent.trim() === 'Đã chuyển đơn vị'",
    )
    .await;
    assert_eq!(
        b.eval(&text_of("#assigned-unit")).await,
        "Thành phố Cao Lãnh"
    );
    b.screenshot(&shot("10-da-chuyen.png")).await;
    b.eval(&set(
        "#resolve-form [name=note]",
        "Đơn vị đã liên hệ người dân",
    ))
    .await;
    b.eval(&click("#resolve-form button[type=submit]")).await;
    b.wait_for(
        "document.getElementById('complaint-state')?.textContent.trim() === 'Đã giải quyết'",
    )
    .await;
    assert_eq!(
        b.eval("document.querySelectorAll('#history tbody tr').length")
            .await,
        json!(3),
        "opened, forwarded, resolved"
    );
    b.screenshot(&shot("11-da-giai-quyet.png")).await;
    let all = store
        .complaints(&carecall::store::complaints::ComplaintFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state.as_str(), "resolved");
    assert_eq!(all[0].assigned_unit.as_deref(), Some("D1"));
}

/// Adds an operator from the administrators' page.
async fn add_operator(b: &mut cdp::Browser, base: &str) {
    b.goto(&format!("{base}/dien-thoai-vien/quan-ly")).await;
    b.eval(&set("[name=username]", "lan")).await;
    b.eval(&set("[name=display_name]", "Trần Thị Lan")).await;
    b.eval(&set("[name=sip_user]", "lan")).await;
    b.eval(&set("[name=password]", "mat-khau-sip")).await;
    b.eval(&set("[name=unit]", "D1")).await;
    b.eval(&click("#operator-form button[type=submit]")).await;
    b.wait_for("document.querySelector('#operators tr[data-sip=lan]')")
        .await;
    assert_eq!(
        b.eval("document.querySelector('#operators tr[data-sip=lan]').children[4].textContent")
            .await,
        "Ngoại tuyến"
    );
    b.screenshot(&shot("12-dien-thoai-vien.png")).await;
}

fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/screenshots")
        .join(name)
}

/// Sets a form field's value (as typing would) by CSS selector.
fn set(selector: &str, value: &str) -> String {
    format!(
        "(() => {{ const e = document.querySelector({}); e.value = {}; \
         e.dispatchEvent(new Event('change', {{ bubbles: true }})); return true; }})()",
        json!(selector),
        json!(value)
    )
}

fn click(selector: &str) -> String {
    format!(
        "(() => {{ document.querySelector({}).click(); return true; }})()",
        json!(selector)
    )
}

fn text_of(selector: &str) -> String {
    format!(
        "document.querySelector({})?.textContent.trim()",
        json!(selector)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_day_in_the_browser() {
    let Some(bin) = cdp::chromium() else {
        assert!(
            std::env::var_os("CARECALL_REQUIRE_BROWSER").is_none(),
            "CARECALL_REQUIRE_BROWSER is set but chromium is not installed"
        );
        println!("chromium: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("web.db").display());
    let store = Store::connect(&url).await.unwrap();
    let recordings = dir.path().join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    seed(&store, &recordings).await;
    let mut config = Config::default();
    config.recordings.dir = recordings.clone();
    let state = AppState::new(store.clone(), Arc::new(config), "web".into());
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(serve(state, "127.0.0.1:0", stop.clone(), tx));
    let base = format!("http://{}", rx.await.unwrap());

    let mut b = cdp::Browser::launch(&bin).await;

    // A stranger lands on the login page, and comes back to the dashboard.
    b.goto(&format!("{base}/")).await;
    b.wait_for("location.pathname === '/dang-nhap'").await;
    b.screenshot(&shot("01-dang-nhap.png")).await;
    b.eval(&set("[name=username]", "admin")).await;
    b.eval(&set("[name=password]", "mat-khau-1")).await;
    b.eval(&click("form button[type=submit]")).await;
    b.wait_for("location.pathname === '/' && document.getElementById('kpi-satisfaction')")
        .await;
    assert_eq!(b.eval(&text_of("#kpi-satisfaction")).await, "100,0%");
    assert_eq!(b.eval(&text_of("#kpi-score")).await, "9,0");
    b.screenshot(&shot("02-tong-quan.png")).await;
    exports(&mut b).await;

    // Create a campaign from the form, then start it.
    b.goto(&format!("{base}/chien-dich/moi")).await;
    b.eval(&set("[name=name]", "Khảo sát tháng 10")).await;
    b.eval(&set("[name=period_from]", "2026-10-01")).await;
    b.eval(&set("[name=period_to]", "2026-10-31")).await;
    b.eval(&set("[name=size]", "2")).await;
    b.eval(&click("input[name=units][value=D1]")).await;
    b.screenshot(&shot("03-tao-chien-dich.png")).await;
    b.eval(&click("#campaign-form button[type=submit]")).await;
    b.wait_for("document.getElementById('campaign-status')?.textContent.trim() === 'Nháp'")
        .await;
    b.eval(&click("button[value=start]")).await;
    b.wait_for("document.getElementById('campaign-status')?.textContent.trim() === 'Đang chạy'")
        .await;
    b.screenshot(&shot("04-chien-dich.png")).await;
    let campaigns = store.campaigns().await.unwrap();
    assert_eq!(campaigns.len(), 1);
    assert_eq!(campaigns[0].status.as_str(), "running");

    // The calls list, then one call's review page.
    b.goto(&format!("{base}/cuoc-goi")).await;
    b.screenshot(&shot("05-cuoc-goi.png")).await;
    b.eval(&click("#calls tbody a")).await;
    b.wait_for("document.getElementById('tra-loi')").await;
    assert_eq!(
        b.eval("[...document.querySelectorAll('button.mark')].map(b => b.textContent)")
            .await,
        json!(["0:02", "0:05", "0:09"])
    );
    play_and_seek(&mut b).await;
    waveform_and_clips_drawn(&mut b).await;
    assert_eq!(
        b.eval("document.getElementById('player').getAttribute('src')")
            .await
            .as_str()
            .map(|s| s.ends_with("/recording")),
        Some(true)
    );
    // The correction form offers only the chosen question's values.
    b.eval(&set("#revise-key", "q4")).await;
    assert_eq!(
        b.eval("document.querySelector('optgroup[data-key=q4]').hidden")
            .await,
        json!(false)
    );
    assert_eq!(
        b.eval("document.querySelector('optgroup[data-key=q1]').hidden")
            .await,
        json!(true)
    );
    b.eval(&set("#revise-value", "7")).await;
    b.eval(&set("[name=reason]", "Người dân gọi lại xin sửa điểm"))
        .await;
    b.screenshot(&shot("06-xem-cuoc-goi.png")).await;
    b.eval(&click("form.stack button[type=submit]")).await;
    b.wait_for("document.querySelector('.flash.good')").await;
    b.screenshot(&shot("07-da-sua.png")).await;
    // Four eyes (issue 15): the correction is a proposal until a second user
    // approves it, so the page says so and the answers are not changed yet.
    assert_eq!(
        b.eval("document.querySelector('.flash.good').textContent.includes('Đã gửi đề xuất sửa')")
            .await,
        json!(true)
    );
    assert_eq!(
        b.eval("document.body.textContent.includes('Người dân gọi lại xin sửa điểm')")
            .await,
        json!(false),
        "nothing is revised before approval"
    );

    follow_complaint(&mut b, &base, &store).await;
    add_operator(&mut b, &base).await;

    // The live view: a call that starts now appears without a reload.
    b.goto(&format!("{base}/truc-tiep")).await;
    b.wait_for("document.getElementById('live-state').textContent === 'đã kết nối'")
        .await;
    store
        .start_call(&NewCall {
            id: None,
            dossier_code: Some("HS1".into()),
            sip_call_id: None,
            destination: "0908765431".into(),
            caller_id: "1022".into(),
            dialplan: "survey-1022".into(),
            started_at: Utc::now(),
        })
        .await
        .unwrap();
    b.wait_for("document.querySelector('#live tr[data-id]')")
        .await;
    assert_eq!(
        b.eval("document.querySelector('#live tr[data-id]').children[2].textContent")
            .await,
        "*******431"
    );
    b.screenshot(&shot("08-truc-tiep.png")).await;

    drop(b);
    stop.cancel();
    server.await.unwrap().unwrap();
}
