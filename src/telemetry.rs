//! Logging: `tracing` to stderr (stdout carries the JSON results), filtered by
//! `RUST_LOG` (default `info`). Every call runs in a `call` span carrying the
//! SIP Call-ID, so `grep <call-id>` follows a call from INVITE to recording.

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
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init()
        .ok();
}
