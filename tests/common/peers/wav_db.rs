//! Reading what a call left behind: WAV levels (hound), file hashes, SQLite rows (sqlx).

use std::fs;
use std::io::Read;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------
// Recordings

pub struct WavStats {
    pub channels: u16,
    pub sample_rate: u32,
    pub seconds: f64,
    /// RMS of each channel over the whole file, in 16-bit sample units (0..32768).
    pub rms: Vec<f64>,
    /// Loudest 20 ms window of each channel, RMS in sample units.
    pub peak_window_rms: Vec<f64>,
}

/// Reads a PCM WAV (16-bit int or 32-bit float) with hound and measures each channel.
pub fn wav_stats(path: &Path) -> WavStats {
    let mut r =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let spec = r.spec();
    let ch = spec.channels as usize;
    let samples: Vec<f64> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let shift = spec.bits_per_sample.saturating_sub(16) as u32;
            r.samples::<i32>()
                .map(|s| (s.expect("wav sample") >> shift) as f64)
                .collect()
        }
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| s.expect("wav sample") as f64 * 32768.0)
            .collect(),
    };
    let frames = samples.len() / ch.max(1);
    let window = (spec.sample_rate as usize / 50).max(1);
    let mut sum = vec![0.0; ch];
    let mut win = vec![0.0; ch];
    let mut peak = vec![0.0f64; ch];
    for (i, frame) in samples.chunks(ch).enumerate() {
        for (c, s) in frame.iter().enumerate() {
            sum[c] += s * s;
            win[c] += s * s;
        }
        if (i + 1) % window == 0 {
            for c in 0..ch {
                peak[c] = peak[c].max((win[c] / window as f64).sqrt());
                win[c] = 0.0;
            }
        }
    }
    WavStats {
        channels: spec.channels,
        sample_rate: spec.sample_rate,
        seconds: frames as f64 / spec.sample_rate as f64,
        rms: sum
            .iter()
            .map(|s| (s / frames.max(1) as f64).sqrt())
            .collect(),
        peak_window_rms: peak,
    }
}

pub fn sha256_hex(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

// ---------------------------------------------------------------------------------------
// Database

/// Every row, in any table of the SQLite DB, where some column's value (as text) equals
/// `needle` — the schema belongs to the store module, so the tests only assume that the
/// call's row carries the `call_id` that `carecall call` printed. Values become JSON.
pub fn sqlite_rows_with(db: &Path, needle: &str) -> Vec<(String, serde_json::Map<String, Value>)> {
    use sqlx::{Column, Connection, Row};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", db.display());
        let mut conn = sqlx::sqlite::SqliteConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        let mut found = Vec::new();
        for t in tables {
            // Table names come from sqlite_master and are quoted: no injection surface.
            let sql = format!("SELECT * FROM \"{}\"", t.replace('"', "\"\""));
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut conn)
                .await
                .expect("select");
            for row in rows {
                let mut obj = serde_json::Map::new();
                for (i, col) in row.columns().iter().enumerate() {
                    let v = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                        v.map(Value::from).unwrap_or(Value::Null)
                    } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                        v.map(Value::from).unwrap_or(Value::Null)
                    } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                        v.map(Value::from).unwrap_or(Value::Null)
                    } else if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
                        v.map(|b| Value::from(hex::encode(b))).unwrap_or(Value::Null)
                    } else {
                        Value::Null
                    };
                    obj.insert(col.name().to_string(), v);
                }
                if obj.values().any(|v| value_text(v) == needle) {
                    found.push((t.clone(), obj));
                }
            }
        }
        found
    })
}

pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Per-0.5 s windows of one channel of an 8 kHz WAV: (rms, the share of the
/// window's energy at 440 Hz, by Goertzel). The operator tests give the
/// operator a 440 Hz microphone, so this tells them from prompts and voices.
pub fn tone_windows(path: &Path, channel: usize) -> Vec<(f64, f64)> {
    let mut r = hound::WavReader::open(path).unwrap();
    let ch = r.spec().channels as usize;
    let samples: Vec<f64> = r
        .samples::<i16>()
        .map(|s| f64::from(s.unwrap()))
        .collect::<Vec<_>>()
        .chunks(ch)
        .map(|f| f[channel])
        .collect();
    samples
        .chunks(4000)
        .map(|w| {
            let energy: f64 = w.iter().map(|s| s * s).sum();
            let rms = (energy / w.len() as f64).sqrt();
            let k = 2.0 * (2.0 * std::f64::consts::PI * 440.0 / 8000.0).cos();
            let (mut s1, mut s2) = (0.0, 0.0);
            for &x in w {
                let s0 = x + k * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let power = s1 * s1 + s2 * s2 - k * s1 * s2;
            let share = if energy > 0.0 {
                2.0 * power / (energy * w.len() as f64)
            } else {
                0.0
            };
            (rms, share)
        })
        .collect()
}
