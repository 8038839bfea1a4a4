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

/// A config with the shipped units and a SQLite DB in `dir`, and 6 returned dossiers.
fn setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = test_dir(name);
    let path = CarecallConfig::new("sip:trunk@127.0.0.1:9").write(&dir);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[dialer]\nunits_file = \"{}\"\n",
        manifest_dir().join("data/units.csv").display()
    ));
    std::fs::write(&path, text).unwrap();
    let mut csv = String::from(
        "code,procedure,field,unit,applicant_kind,applicant_name,phone,received_at,returned_at\n",
    );
    for i in 1..=6 {
        csv.push_str(&format!(
            "HS-{i:03},Đăng ký khai sinh,Hộ tịch,huyen-lap-vo.tan-my,cá nhân,Công dân {i},09130000{i:02},02/11/2026,05/11/2026\n"
        ));
    }
    let file = dir.join("dossiers.csv");
    std::fs::write(&file, csv).unwrap();
    run_ok(
        carecall(&dir, &path)
            .args(["import", "dossiers"])
            .arg(&file),
        "import",
    );
    (dir, path)
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
