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
pub fn init(quiet: bool) {
    let default = if quiet {
        "warn"
    } else {
        "info,rsipstack=warn,sqlx=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(GuardedStderr::new(LINES_PER_CALLSITE_PER_SEC))
        .with_target(false)
        .try_init()
        .ok();
}

/// Stderr behind a line budget and the masks.
pub struct GuardedStderr {
    budget: Mutex<LineBudget<Identifier>>,
    start: Instant,
    reveal_phones: bool,
}

impl GuardedStderr {
    pub fn new(per_sec: u32) -> GuardedStderr {
        GuardedStderr {
            budget: Mutex::new(LineBudget::new(per_sec)),
            start: Instant::now(),
            reveal_phones: crate::pii::log_pii(),
        }
    }
}

/// One event's writer: writes the masked line (after a note of suppressed
/// ones), or nothing when over budget.
pub struct LineWriter {
    pass: bool,
    note: Option<String>,
    reveal_phones: bool,
}

impl<'a> MakeWriter<'a> for GuardedStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
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
            Admit::Pass { suppressed } => (true, Some(suppressed_note(meta, suppressed))),
        };
        LineWriter {
            pass,
            note,
            reveal_phones: self.reveal_phones,
        }
    }
}

fn suppressed_note(meta: &Metadata<'_>, count: u64) -> String {
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
        let line = mask::mask_line(&String::from_utf8_lossy(buf), self.reveal_phones);
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
