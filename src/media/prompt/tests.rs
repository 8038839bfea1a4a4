use std::f64::consts::PI;
use std::fs;

use hound::{SampleFormat, WavSpec, WavWriter};

use super::*;

fn write_tone(path: &Path, freq: f64, rate: u32, seconds: f64) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let mut w = WavWriter::create(path, spec).unwrap();
    for i in 0..(f64::from(rate) * seconds) as usize {
        let v = 16384.0 * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin();
        w.write_sample(v as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn store_with(manifest: &str) -> (tempfile::TempDir, Result<PromptStore, PromptError>) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(MANIFEST), manifest).unwrap();
    let store = PromptStore::open(dir.path());
    (dir, store)
}

const TWO: &str = r#"
language = "vi"
[[prompt]]
name = "greeting"
text = "Xin chào"
[[prompt]]
name = "field/dat-dai"
text = "đất đai"
studio = true
"#;

/// RMS of the middle half of `x`, relative to full scale.
fn rms_mid(x: &[i16]) -> f64 {
    let mid = &x[x.len() / 4..x.len() * 3 / 4];
    let sum: f64 = mid.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    (sum / mid.len() as f64).sqrt() / 32768.0
}

#[test]
fn loads_resamples_and_caches() {
    let (dir, store) = store_with(TWO);
    let store = store.unwrap();
    write_tone(&dir.path().join("greeting.wav"), 3000.0, 48_000, 1.0);
    write_tone(&dir.path().join("field/dat-dai.wav"), 6000.0, 48_000, 1.0);
    assert_eq!(store.language(), "vi");
    assert_eq!(store.names(), ["greeting", "field/dat-dai"]);
    assert_eq!(store.text("field/dat-dai"), Some("đất đai"));
    assert!(store.verify().is_empty());

    let pass = store.load("greeting").unwrap();
    assert_eq!(pass.len(), 8000);
    let input_rms = 0.5 / 2f64.sqrt();
    let pass_db = 20.0 * (rms_mid(&pass) / input_rms).log10();
    assert!(pass_db.abs() < 0.5, "3 kHz at 48 kHz: {pass_db:.2} dB");
    let stop = store.load("field/dat-dai").unwrap();
    let stop_db = 20.0 * (rms_mid(&stop) / input_rms).log10();
    assert!(stop_db < -30.0, "6 kHz at 48 kHz: {stop_db:.1} dB");

    assert!(Arc::ptr_eq(&pass, &store.load("greeting").unwrap()));
    // Cached: even if the file goes away, the decoded prompt stays playable.
    fs::remove_file(dir.path().join("greeting.wav")).unwrap();
    assert!(Arc::ptr_eq(&pass, &store.load("greeting").unwrap()));
}

#[test]
fn exists_follows_the_files_and_rejects_unsafe_names() {
    let (dir, store) = store_with(TWO);
    let store = store.unwrap();
    write_tone(&dir.path().join("greeting.wav"), 440.0, 8000, 0.1);
    write_tone(&dir.path().join("extra/studio-only.wav"), 440.0, 8000, 0.1);
    assert!(store.exists("greeting"));
    assert!(store.exists("extra/studio-only"));
    assert!(!store.exists("field/dat-dai"));
    assert!(!store.exists("greeting.wav"));
    fs::write(dir.path().parent().unwrap().join("outside.wav"), b"").ok();
    for bad in ["../outside", "/etc/passwd", "a//b", "", "field/", "x y"] {
        assert!(!store.exists(bad), "{bad:?}");
        assert!(
            matches!(store.load(bad), Err(PromptError::InvalidName { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn verify_reports_every_missing_or_broken_file() {
    let (dir, store) = store_with(TWO);
    let store = store.unwrap();
    fs::write(dir.path().join("greeting.wav"), b"RIFF????WAVEjunk").unwrap();
    let errors = store.verify();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        matches!(&errors[0], PromptError::Decode { path, .. } if path.ends_with("greeting.wav"))
    );
    assert!(matches!(&errors[1], PromptError::Missing { name, .. } if name == "field/dat-dai"));
    assert!(errors[1].to_string().contains("make-prompts.sh"));
}

#[test]
fn manifest_problems_are_reported_at_open() {
    let dup = format!("{TWO}\n[[prompt]]\nname = \"greeting\"\ntext = \"again\"\n");
    assert!(
        matches!(store_with(&dup).1, Err(PromptError::DuplicateName { name }) if name == "greeting")
    );
    let bad = "language = \"vi\"\n[[prompt]]\nname = \"../x\"\ntext = \"\"\n";
    assert!(matches!(
        store_with(bad).1,
        Err(PromptError::InvalidName { .. })
    ));
    let typo = "language = \"vi\"\n[[prompt]]\nname = \"a\"\ntext = \"\"\nstudo = true\n";
    assert!(matches!(
        store_with(typo).1,
        Err(PromptError::ManifestParse { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        PromptStore::open(dir.path()),
        Err(PromptError::ManifestRead { .. })
    ));
}

/// Field and place prompts the greeting can name (the dialplan's own prompts are
/// checked by validating dialplans/survey-1022.toml against the shipped store).
const REQUIRED: &[&str] = &[
    "field/dat-dai",
    "field/ho-tich",
    "field/kinh-doanh",
    "field/xay-dung",
    "field/tu-phap",
    "place/ttHCC-tinh",
    "place/tp-cao-lanh",
    "place/tp-sa-dec",
    "place/tp-hong-ngu",
    "place/huyen-tan-hong",
    "place/huyen-hong-ngu",
    "place/huyen-tam-nong",
    "place/huyen-thanh-binh",
    "place/huyen-thap-muoi",
    "place/huyen-cao-lanh",
    "place/huyen-lap-vo",
    "place/huyen-lai-vung",
    "place/huyen-chau-thanh",
];

#[test]
fn shipped_vietnamese_prompts_all_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/vi");
    let shipped = PromptStore::open(&dir).unwrap();
    let plan = crate::ivr::Dialplan::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans/survey-1022.toml"),
    )
    .unwrap();
    plan.validate(&|p: &str| shipped.exists(p))
        .expect("every prompt survey-1022 names is shipped");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/vi");
    let store = PromptStore::open(&dir).unwrap();
    assert_eq!(store.language(), "vi");
    let errors = store.verify();
    assert!(errors.is_empty(), "{errors:#?}");
    let names = store.names();
    for name in REQUIRED {
        assert!(names.iter().any(|n| n == name), "manifest lacks {name}");
    }
    for e in store.entries() {
        assert!(!e.text.trim().is_empty(), "{} has no text", e.name);
        let audio = store.load(&e.name).unwrap();
        let seconds = audio.len() as f64 / 8000.0;
        assert!((0.3..40.0).contains(&seconds), "{}: {seconds:.2} s", e.name);
        // Normalised to about -3 dBFS peak by the generator.
        let peak = audio.iter().map(|&s| i32::from(s).abs()).max().unwrap();
        let peak_db = 20.0 * (f64::from(peak) / 32768.0).log10();
        assert!(
            (-4.5..=-1.5).contains(&peak_db),
            "{}: peak {peak_db:.1} dBFS",
            e.name
        );
    }
    let beep = store.load("beep").unwrap();
    assert_eq!(beep.len(), 3200, "beep is 400 ms");
}
