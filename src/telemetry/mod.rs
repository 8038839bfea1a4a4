//! Logging: `tracing` to stderr (stdout carries the JSON results), filtered by
//! `RUST_LOG` (default `info`). Every call runs in a `call` span carrying the
//! SIP Call-ID, so `grep <call-id>` follows a call from INVITE to recording.
//!
//! Every line goes through [`GuardedStderr`]: at most
//! [`LINES_PER_CALLSITE_PER_SEC`] lines per callsite per second
//! ([`budget`]), and phone numbers and digest responses masked ([`mask`]),
//! whatever the level and whichever crate wrote the line.

pub mod budget;
pub mod mask;

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use tracing::Metadata;
use tracing::callsite::Identifier;
use tracing_subscriber::fmt::MakeWriter;

use budget::{Admit, LineBudget};

/// Lines one `tracing` callsite may write per second; the rest are counted.
pub const LINES_PER_CALLSITE_PER_SEC: u32 = 20;

/// `quiet` (the demo) shows warnings only unless `RUST_LOG` says otherwise.
pub fn init(quiet: bool, format: LogFormat) {
    use std::io::IsTerminal;
    let default = if quiet {
        "warn"
    } else {
        "info,rsipstack=warn,sqlx=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let writer = GuardedStderr::new(LINES_PER_CALLSITE_PER_SEC, format);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour codes only for a person at a terminal: a file or a log
        // shipper gets plain text.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.with_writer(writer).try_init(),
        // One JSON object per line, the call span (with its SIP Call-ID) included.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_writer(writer)
            .try_init(),
    }
    .ok();
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

pub struct GuardedStderr {
    format: LogFormat,
    budget: Mutex<LineBudget<Identifier>>,
    start: Instant,
    reveal_phones: bool,
}

impl GuardedStderr {
    pub fn new(per_sec: u32, format: LogFormat) -> GuardedStderr {
        GuardedStderr {
            format,
            budget: Mutex::new(LineBudget::new(per_sec)),
            start: Instant::now(),
            reveal_phones: crate::pii::log_pii(),
        }
    }
}

/// One event's writer: writes the masked line (after a note of suppressed
/// ones), or nothing when over budget.
pub struct LineWriter {
    format: LogFormat,
    pass: bool,
    note: Option<String>,
    reveal_phones: bool,
}

impl<'a> MakeWriter<'a> for GuardedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            format: self.format,
            pass: true,
            note: None,
            reveal_phones: self.reveal_phones,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        let now_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let admit = self
            .budget
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(meta.callsite(), now_ms);
        let (pass, note) = match admit {
            Admit::Drop => (false, None),
            Admit::Pass { suppressed: 0 } => (true, None),
            Admit::Pass { suppressed } => {
                (true, Some(suppressed_note(meta, suppressed, self.format)))
            }
        };
        LineWriter {
            format: self.format,
            pass,
            note,
            reveal_phones: self.reveal_phones,
        }
    }
}

fn suppressed_note(meta: &Metadata<'_>, count: u64, format: LogFormat) -> String {
    if format == LogFormat::Json {
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "WARN",
            "fields": { "message": format!("log: suppressed {count} similar lines"),
                        "suppressed": count, "from": meta.target(),
                        "file": meta.file().unwrap_or("?"), "line": meta.line().unwrap_or(0) },
        });
        return format!("{line}\n");
    }
    format!(
        "{}  WARN log: suppressed {count} similar lines from {} ({}:{})\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        meta.target(),
        meta.file().unwrap_or("?"),
        meta.line().unwrap_or(0),
    )
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.pass {
            return Ok(buf.len());
        }
        let text = String::from_utf8_lossy(buf);
        let line = match self.format {
            LogFormat::Text => mask::mask_line(&text, self.reveal_phones),
            LogFormat::Json => mask::mask_json_line(&text, self.reveal_phones),
        };
        let mut err = std::io::stderr().lock();
        if let Some(note) = self.note.take() {
            err.write_all(note.as_bytes())?;
        }
        err.write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
