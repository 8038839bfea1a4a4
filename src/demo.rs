//! `carecall demo` (placeholder until the phone module lands).

#[derive(Debug, thiserror::Error)]
#[error("the demo is not built yet")]
pub struct DemoError;

pub async fn run(dir: &std::path::Path) -> Result<(), DemoError> {
    let _ = dir;
    Err(DemoError)
}
