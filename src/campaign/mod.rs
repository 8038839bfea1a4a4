//! Campaigns: the hotline's daily work built on single calls — the sample of
//! citizens to call, and the dialer that calls them inside the call windows,
//! within pacing limits, retrying as the policy says.

pub mod create;
pub mod policy;
pub mod progressive;
pub mod runner;

use std::path::Path;

use crate::dialer::units::{Unit, UnitTree, UnitsError, parse_units_csv};
use crate::store::{Store, StoreError, UnitRecord};

/// A unit given by its code or its exact name (as one-stop exports write it).
pub fn resolve_unit(units: &[UnitRecord], given: &str) -> Option<String> {
    let given = given.trim();
    units
        .iter()
        .find(|u| u.code.eq_ignore_ascii_case(given) || u.name == given)
        .map(|u| u.code.clone())
}

/// The unit hierarchy of stored units (rows with an unknown level are skipped).
pub fn unit_tree(units: &[UnitRecord]) -> Result<UnitTree, UnitsError> {
    let units = units
        .iter()
        .filter_map(|u| {
            Some(Unit {
                code: u.code.clone(),
                name: u.name.clone(),
                level: crate::dialer::units::Level::parse(&u.level)?,
                parent: u.parent.clone(),
            })
        })
        .collect();
    UnitTree::new(units)
}

#[derive(Debug, thiserror::Error)]
pub enum UnitsLoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: crate::dialer::units::UnitsError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads a units CSV (code,name,level,parent) into the database, parents first.
pub async fn load_units(store: &Store, path: &Path) -> Result<usize, UnitsLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| UnitsLoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let units = parse_units_csv(&text).map_err(|source| UnitsLoadError::Parse {
        path: path.display().to_string(),
        source,
    })?;
    for u in &units {
        let level = serde_json::to_value(u.level)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        store
            .upsert_unit(&UnitRecord {
                code: u.code.clone(),
                name: u.name.clone(),
                level,
                parent: u.parent.clone(),
            })
            .await?;
    }
    Ok(units.len())
}
