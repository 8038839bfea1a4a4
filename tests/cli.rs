//! The command line as an operator meets it on the first day: a missing config
//! file is one clear error, `campaign list` is a table (or JSON with the rules as
//! objects, not strings), a paused campaign resumes, and a seed a browser would
//! round is refused. Nothing here needs a SIP peer: the campaign is only drawn.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::peers::*;
use serde_json::Value;

fn carecall(dir: &Path, config: &Path) -> Command {
    let mut cmd = carecall_in(dir, "warn");
    cmd.arg("--config").arg(config);
    cmd
}

/// A config with the shipped units and a SQLite DB in a fresh `dir`.
fn configured(name: &str) -> (PathBuf, PathBuf) {
    let dir = test_dir(name);
    let path = CarecallConfig::new("sip:trunk@127.0.0.1:9").write(&dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[dialer]\nunits_file = \"{}\"\n",
        manifest_dir().join("data/units.csv").display()
    ));
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A config with the shipped units and a SQLite DB in `dir`, and 6 returned dossiers.
fn setup(name: &str) -> (PathBuf, PathBuf) {
    let (dir, path) = configured(name);
    let rows = (1..=6).map(|i| {
        (
            format!("HS-{i:03}"),
            "huyen-lap-vo.tan-my",
            format!("09130000{i:02}"),
        )
    });
    import_dossiers(&dir, &path, rows);
    (dir, path)
}

/// Imports returned dossiers (code, unit, phone), all returned on 05/11/2026.
fn import_dossiers<U: std::fmt::Display>(
    dir: &Path,
    config: &Path,
    rows: impl IntoIterator<Item = (String, U, String)>,
) {
    let mut csv = String::from(
        "code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at\n",
    );
    for (code, unit, phone) in rows {
        csv.push_str(&format!(
            "{code},Đăng ký khai sinh,Hộ tịch,{unit},cá nhân,Công dân {code},{phone},02/11/2026,05/11/2026\n"
        ));
    }
    let file = dir.join("dossiers.csv");
    std::fs::write(&file, csv).unwrap();
    run_ok(
        carecall(dir, config)
            .args(["import", "dossiers"])
            .arg(&file),
        "import",
    );
}

fn write_spec(dir: &Path, seed: u64) -> PathBuf {
    let spec = serde_json::json!({
        "name": "Khảo sát tháng 11", "period_from": "2026-11-01", "period_to": "2026-11-30",
        "size": 4, "seed": seed,
    });
    let path = dir.join(format!("spec-{seed}.json"));
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

#[test]
fn a_missing_config_file_is_named_once_with_its_cause() {
    let dir = test_dir("cli_missing_config");
    let out = carecall_in(&dir, "warn")
        .args(["--config", "no-such.toml", "campaign", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such.toml"), "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the cause is printed once: {err}"
    );
}

#[test]
fn campaign_list_is_a_table_or_json_and_a_paused_campaign_resumes() {
    let (dir, config) = setup("cli_campaign_list");
    let empty = run_ok(carecall(&dir, &config).args(["campaign", "list"]), "list");
    assert!(empty.contains("no campaigns yet"), "{empty}");

    let created = run_ok(
        carecall(&dir, &config)
            .args(["campaign", "create"])
            .arg(write_spec(&dir, 42)),
        "create",
    );
    let created: Value = serde_json::from_str(&created).unwrap();
    let id = created["id"].as_str().unwrap().to_string();

    let table = run_ok(carecall(&dir, &config).args(["campaign", "list"]), "list");
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("STATUS"),
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with(&id) && row.contains("draft"), "{table}");
    assert!(
        row.contains("01/11/2026..30/11/2026"),
        "the days chosen, dd/mm/yyyy: {table}"
    );
    assert!(!table.contains('{'), "no JSON in the table: {table}");

    let json = run_ok(
        carecall(&dir, &config).args(["campaign", "list", "--json"]),
        "list --json",
    );
    let v: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert!(v["policy"]["windows"].is_object(), "{v}");
    assert!(v["policy"]["retry"].is_object(), "{v}");
    assert!(v["campaign"].get("windows_json").is_none(), "{v}");
    assert_eq!(v["campaign"]["sample_seed"], 42);

    for (action, status) in [
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
    ] {
        let out = run_ok(
            carecall(&dir, &config).args(["campaign", action, &id]),
            action,
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["status"], status, "{action}: {out}");
    }
}

#[test]
fn a_seed_that_json_clients_would_round_is_refused() {
    let (dir, config) = setup("cli_big_seed");
    let out = carecall(&dir, &config)
        .args(["campaign", "create"])
        .arg(write_spec(&dir, 1 << 60))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2^53"), "{err}");
    let list = run_ok(carecall(&dir, &config).args(["campaign", "list"]), "list");
    assert!(
        list.contains("no campaigns yet"),
        "nothing was created: {list}"
    );
}

/// Seed 004's quota drives the draw: a unit with 500 returned dossiers needs
/// max(200, 30 % × 500) = 200 surveys, so 200 / 0.6 → 334 dossiers are drawn from
/// it; a unit with 250 dossiers but only 180 callable citizens (70 share a phone)
/// can reach 108 and the request is refused with those numbers, creating nothing.
#[test]
fn a_quota_rule_sizes_the_draw_per_unit_and_an_infeasible_one_is_refused() {
    let (dir, config) = configured("cli_quota_rule");
    let big = (0..500).map(|i| {
        (
            format!("AH-{i:04}"),
            "tp-sa-dec.an-hoa",
            format!("0912{i:06}"),
        )
    });
    let short = (0..250).map(|i| {
        (
            format!("HA-{i:04}"),
            "tp-cao-lanh.hoa-an",
            format!("0913{:06}", i % 180),
        )
    });
    import_dossiers(&dir, &config, big.chain(short));
    let spec = |name: &str, units: Value, rule: Value| {
        let path = dir.join(format!("{name}.json"));
        let spec = serde_json::json!({
            "name": name, "period_from": "2026-11-01", "period_to": "2026-11-30",
            "units": units, "quota_rule": rule, "seed": 7,
        });
        std::fs::write(&path, spec.to_string()).unwrap();
        path
    };
    let rule = serde_json::json!({"min_surveys": 200, "min_share": 0.30, "applies_from": 200,
                                  "applies_to": 1000, "expected_response_rate": 0.6});

    let out = carecall(&dir, &config)
        .args(["campaign", "create"])
        .arg(spec("both", serde_json::json!([]), rule.clone()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "unit tp-cao-lanh.hoa-an: 250 dossiers, 180 eligible, needed 200, reachable 108"
        ),
        "{err}"
    );
    assert!(
        !err.contains("tp-sa-dec.an-hoa"),
        "only the short unit is named: {err}"
    );
    let list = run_ok(carecall(&dir, &config).args(["campaign", "list"]), "list");
    assert!(
        list.contains("no campaigns yet"),
        "nothing was created: {list}"
    );

    let created = run_ok(
        carecall(&dir, &config)
            .args(["campaign", "create"])
            .arg(spec(
                "an-hoa",
                serde_json::json!(["tp-sa-dec.an-hoa"]),
                rule.clone(),
            )),
        "create",
    );
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["targets"], 334, "{created}");
    let plan = &created["quota_plan"][0];
    assert_eq!(
        (
            &plan["unit_code"],
            &plan["dossiers"],
            &plan["eligible"],
            &plan["needed"],
            &plan["sample"]
        ),
        (
            &Value::from("tp-sa-dec.an-hoa"),
            &Value::from(500),
            &Value::from(500),
            &Value::from(200),
            &Value::from(334)
        ),
        "{created}"
    );
    assert_eq!(created["strata"][0]["picked"], 334, "{created}");
    let json = run_ok(
        carecall(&dir, &config).args(["campaign", "list", "--json"]),
        "list --json",
    );
    let v: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let quotas = &v["policy"]["quotas"];
    assert_eq!(quotas.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(quotas[0]["unit_code"], "tp-sa-dec.an-hoa", "{v}");
    assert_eq!(
        quotas[0]["min_count"], 200,
        "the report measures against the need: {v}"
    );
    assert_eq!(
        v["policy"]["rule"]["unit_sizes"]["tp-sa-dec.an-hoa"], 334,
        "{v}"
    );

    // allow_short: the short unit is drawn whole and its shortfall reported.
    let mut lenient = rule;
    lenient["allow_short"] = Value::from(true);
    let created = run_ok(
        carecall(&dir, &config)
            .args(["campaign", "create"])
            .arg(spec("lenient", serde_json::json!([]), lenient)),
        "create allow_short",
    );
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["targets"], 334 + 180, "{created}");
    let short = created["quota_plan"]
        .as_array()
        .and_then(|p| p.iter().find(|u| u["unit_code"] == "tp-cao-lanh.hoa-an"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&short["sample"], &short["shortfall"]),
        (&Value::from(180), &Value::from(92)),
        "{created}"
    );
}

/// Logs written to a file carry no colour codes, and `--log-format json`
/// gives one JSON object per line for a log shipper.
#[test]
fn logs_to_a_file_are_plain_text_or_json_lines() {
    let dir = test_dir("cli_log_format");
    let config = dir.join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n",
            dir.join("x.db").display()
        ),
    )
    .unwrap();
    let run = |format: &str| {
        let out = carecall_in(&dir, "debug")
            .args(["--log-format", format, "--config"])
            .arg(&config)
            .args(["campaign", "list"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let text = run("text");
    assert!(text.lines().count() > 2, "debug logs something: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "no ANSI codes in a file: {text:?}"
    );
    let json = run("json");
    for line in json.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(json.lines().count() > 2, "{json}");
}
