//! The administrative units whose one-stop desks hand out results: the province
//! centre, the district-level desks and the commune desks (Plan 362/KH-UBND).
//!
//! Units are data, loaded from `data/units.csv` and editable through the API; this
//! module only parses and validates them and answers "is this unit under that one?",
//! which sampling rules need ("all dossiers of huyện Lấp Vò" includes its communes).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The unit list shipped with carecall (`data/units.csv`): the province centre,
/// Đồng Tháp's 12 district-level units and a sample of communes.
pub const SHIPPED_UNITS_CSV: &str = include_str!("../../data/units.csv");

/// The header [`parse_units_csv`] expects, in this order.
pub const HEADER: [&str; 4] = ["code", "name", "level", "parent"];

/// The level of government a one-stop desk belongs to.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Province,
    District,
    Commune,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::District => "district",
            Level::Commune => "commune",
        }
    }

    /// 0 for the province, growing downwards: a parent has a smaller depth.
    fn depth(self) -> u8 {
        match self {
            Level::Province => 0,
            Level::District => 1,
            Level::Commune => 2,
        }
    }

    /// Whether `self` is a lower level of government than `other`.
    pub fn is_below(self, other: Level) -> bool {
        self.depth() > other.depth()
    }

    /// Parses `province`, `district` or `commune` (any case).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "province" => Some(Level::Province),
            "district" => Some(Level::District),
            "commune" => Some(Level::Commune),
            _ => None,
        }
    }
}

/// One administrative unit (one one-stop desk).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Unit {
    /// ASCII slug; for the province and district units also the name of the
    /// place prompt (`prompts/vi/place/<code>.wav`).
    pub code: String,
    pub name: String,
    pub level: Level,
    /// Code of the unit above; `None` for a root (normally the province).
    pub parent: Option<String>,
}

/// Why a unit list was refused. `line` is the CSV line (the header is line 1), or the
/// 1-based position in the list for [`UnitTree::new`].
#[derive(Debug, thiserror::Error)]
pub enum UnitsError {
    #[error("line {line}: the units CSV could not be read: {source}")]
    Csv {
        line: u64,
        #[source]
        source: csv::Error,
    },
    #[error("the units CSV must start with the header `code,name,level,parent`, found `{found}`")]
    Header { found: String },
    #[error("line {line}: expected 4 columns (code,name,level,parent), found {found}")]
    Columns { line: u64, found: usize },
    #[error("line {line}: the unit code is empty")]
    EmptyCode { line: u64 },
    #[error("line {line}: unit {code} has no name")]
    EmptyName { line: u64, code: String },
    #[error("line {line}: unit {code} has level `{value}`; use province, district or commune")]
    UnknownLevel {
        line: u64,
        code: String,
        value: String,
    },
    #[error("line {line}: unit code {code} already appears on line {first_line}")]
    Duplicate {
        line: u64,
        code: String,
        first_line: u64,
    },
    #[error("line {line}: unit {code} names parent {parent}, which is not in the list")]
    UnknownParent {
        line: u64,
        code: String,
        parent: String,
    },
    #[error(
        "line {line}: unit {code} ({level}) cannot sit under {parent} ({parent_level}): \
         a parent must be a higher level of government"
    )]
    LevelNotBelowParent {
        line: u64,
        code: String,
        level: &'static str,
        parent: String,
        parent_level: &'static str,
    },
}

/// Parses `code,name,level,parent` CSV (UTF-8, names may be quoted). A parent may be
/// listed after its children; errors name the first offending line.
pub fn parse_units_csv(text: &str) -> Result<Vec<Unit>, UnitsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|source| UnitsError::Csv { line: 1, source })?;
    if header.iter().map(str::to_ascii_lowercase).ne(HEADER) {
        return Err(UnitsError::Header {
            found: header.iter().collect::<Vec<_>>().join(","),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| UnitsError::Csv {
            line: source.position().map_or(0, |p| p.line()),
            source,
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != HEADER.len() {
            return Err(UnitsError::Columns {
                line,
                found: record.len(),
            });
        }
        rows.push((line, parse_row(line, &record)?));
    }
    validate(&rows)?;
    Ok(rows.into_iter().map(|(_, unit)| unit).collect())
}

fn parse_row(line: u64, record: &csv::StringRecord) -> Result<Unit, UnitsError> {
    let code = record[0].to_string();
    if code.is_empty() {
        return Err(UnitsError::EmptyCode { line });
    }
    if record[1].is_empty() {
        return Err(UnitsError::EmptyName { line, code });
    }
    let level = Level::parse(&record[2]).ok_or_else(|| UnitsError::UnknownLevel {
        line,
        code: code.clone(),
        value: record[2].to_string(),
    })?;
    Ok(Unit {
        name: record[1].to_string(),
        level,
        parent: Some(record[3].to_string()).filter(|p| !p.is_empty()),
        code,
    })
}

/// Unique codes, known parents, each parent a higher level (so the graph is a forest:
/// levels strictly decrease upwards, no cycle is possible).
fn validate(rows: &[(u64, Unit)]) -> Result<(), UnitsError> {
    let mut seen: HashMap<&str, (u64, Level)> = HashMap::with_capacity(rows.len());
    for (line, unit) in rows {
        if let Some(&(first_line, _)) = seen.get(unit.code.as_str()) {
            return Err(UnitsError::Duplicate {
                line: *line,
                code: unit.code.clone(),
                first_line,
            });
        }
        seen.insert(&unit.code, (*line, unit.level));
    }
    for (line, unit) in rows {
        let Some(parent) = &unit.parent else { continue };
        let Some(&(_, parent_level)) = seen.get(parent.as_str()) else {
            return Err(UnitsError::UnknownParent {
                line: *line,
                code: unit.code.clone(),
                parent: parent.clone(),
            });
        };
        if !unit.level.is_below(parent_level) {
            return Err(UnitsError::LevelNotBelowParent {
                line: *line,
                code: unit.code.clone(),
                level: unit.level.as_str(),
                parent: parent.clone(),
                parent_level: parent_level.as_str(),
            });
        }
    }
    Ok(())
}

/// A validated unit list with parent/child links, for scope questions.
#[derive(Debug, Clone)]
pub struct UnitTree {
    units: Vec<Unit>,
    index: HashMap<String, usize>,
    children: Vec<Vec<usize>>,
    parent: Vec<Option<usize>>,
}

impl UnitTree {
    /// Builds the tree, applying the same checks as [`parse_units_csv`].
    pub fn new(units: Vec<Unit>) -> Result<Self, UnitsError> {
        let rows: Vec<(u64, Unit)> = units
            .into_iter()
            .enumerate()
            .map(|(i, u)| (i as u64 + 1, u))
            .collect();
        validate(&rows)?;
        let units: Vec<Unit> = rows.into_iter().map(|(_, u)| u).collect();
        let index: HashMap<String, usize> = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.code.clone(), i))
            .collect();
        let parent: Vec<Option<usize>> = units
            .iter()
            .map(|u| u.parent.as_ref().map(|p| index[p]))
            .collect();
        let mut children = vec![Vec::new(); units.len()];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(i);
            }
        }
        Ok(UnitTree {
            units,
            index,
            children,
            parent,
        })
    }

    /// The shipped `data/units.csv`.
    pub fn shipped() -> Result<Self, UnitsError> {
        Self::new(parse_units_csv(SHIPPED_UNITS_CSV)?)
    }

    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn get(&self, code: &str) -> Option<&Unit> {
        self.index.get(code).map(|&i| &self.units[i])
    }

    /// Every unit under `code` (children, grandchildren…), not `code` itself, parents
    /// before their children. Empty for an unknown code.
    pub fn descendants(&self, code: &str) -> Vec<&Unit> {
        let mut out = Vec::new();
        let Some(&root) = self.index.get(code) else {
            return out;
        };
        let mut stack: Vec<usize> = self.children[root].iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            out.push(&self.units[i]);
            stack.extend(self.children[i].iter().rev());
        }
        out
    }

    /// Whether `unit` is `ancestor` itself or lies under it. False when either code
    /// is unknown.
    pub fn is_within(&self, unit: &str, ancestor: &str) -> bool {
        let (Some(&start), Some(&target)) = (self.index.get(unit), self.index.get(ancestor)) else {
            return false;
        };
        let mut at = Some(start);
        while let Some(i) = at {
            if i == target {
                return true;
            }
            at = self.parent[i];
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_has_the_province_and_twelve_districts() {
        let tree = UnitTree::shipped().unwrap();
        let count = |l| tree.units().iter().filter(|u| u.level == l).count();
        assert_eq!(count(Level::Province), 1);
        assert_eq!(count(Level::District), 12);
        assert!(count(Level::Commune) >= 24);
        let province = tree.units().iter().find(|u| u.level == Level::Province);
        assert_eq!(province.unwrap().parent, None);
        assert_eq!(tree.get("huyen-lap-vo").unwrap().name, "Huyện Lấp Vò");
    }

    #[test]
    fn shipped_province_and_districts_have_place_prompts() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/vi/place");
        for unit in UnitTree::shipped().unwrap().units() {
            if unit.level != Level::Commune {
                let wav = dir.join(format!("{}.wav", unit.code));
                assert!(wav.is_file(), "no place prompt {}", wav.display());
            }
        }
    }

    const SMALL: &str = "code,name,level,parent\n\
        p,Province,province,\n\
        d1,District 1,district,p\n\
        c1,\"Commune 1, D1\",commune,d1\n\
        c2,Commune 2,commune,d1\n\
        d2,District 2,district,p\n\
        c3,Commune 3,commune,d2\n\
        c4,Commune directly under the province,commune,p\n";

    #[test]
    fn parses_quoted_names_and_empty_parents() {
        let units = parse_units_csv(SMALL).unwrap();
        assert_eq!(units.len(), 7);
        assert_eq!(units[2].name, "Commune 1, D1");
        assert_eq!(units[0].parent, None);
        assert_eq!(units[2].parent.as_deref(), Some("d1"));
        assert_eq!(units[2].level, Level::Commune);
    }

    #[test]
    fn descendants_and_within() {
        let tree = UnitTree::new(parse_units_csv(SMALL).unwrap()).unwrap();
        let codes = |c| {
            tree.descendants(c)
                .iter()
                .map(|u| u.code.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(codes("d1"), ["c1", "c2"]);
        assert_eq!(codes("p"), ["d1", "c1", "c2", "d2", "c3", "c4"]);
        assert!(codes("c1").is_empty());
        assert!(codes("nope").is_empty());
        assert!(tree.is_within("c1", "d1"));
        assert!(tree.is_within("c1", "p"));
        assert!(tree.is_within("d1", "d1"));
        assert!(!tree.is_within("c3", "d1"));
        assert!(!tree.is_within("d1", "c1"));
        assert!(!tree.is_within("nope", "p"));
    }

    fn err(text: &str) -> UnitsError {
        parse_units_csv(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        let h = "code,name,level,parent\n";
        let e = err(&format!("{h}p,P,province,\nd,D,district,x\n"));
        assert!(
            matches!(e, UnitsError::UnknownParent { line: 3, ref parent, .. } if parent == "x")
        );
        assert!(e.to_string().starts_with("line 3:"), "{e}");

        let e = err(&format!(
            "{h}p,P,province,\nd,D,district,p\nd,D again,district,p\n"
        ));
        assert!(matches!(
            e,
            UnitsError::Duplicate {
                line: 4,
                first_line: 3,
                ..
            }
        ));

        let e = err(&format!("{h}p,P,province,\nd,D,county,p\n"));
        assert!(
            matches!(e, UnitsError::UnknownLevel { line: 3, ref value, .. } if value == "county")
        );

        let e = err(&format!("{h}p,P,province,\n,D,district,p\n"));
        assert!(matches!(e, UnitsError::EmptyCode { line: 3 }));

        let e = err(&format!("{h}p,P,province,\nd,D,district\n"));
        assert!(matches!(e, UnitsError::Columns { line: 3, found: 3 }));

        let e = err("code,name,parent,level\n");
        assert!(matches!(e, UnitsError::Header { .. }));
    }

    #[test]
    fn a_parent_must_be_a_higher_level() {
        let h = "code,name,level,parent\n";
        // A district under a commune, a district under a district, a province under one.
        for bad in [
            "p,P,province,\nc,C,commune,p\nd,D,district,c\n",
            "p,P,province,\nd,D,district,p\nd2,D2,district,d\n",
            "p,P,province,\np2,P2,province,p\n",
        ] {
            let e = err(&format!("{h}{bad}"));
            assert!(
                matches!(e, UnitsError::LevelNotBelowParent { line: 4 | 3, .. }),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_parent_may_follow_its_children() {
        let units = parse_units_csv("code,name,level,parent\nc,C,commune,d\nd,D,district,\n");
        assert_eq!(units.unwrap().len(), 2);
    }

    #[test]
    fn tree_new_validates_a_list() {
        let units = vec![Unit {
            code: "d".into(),
            name: "D".into(),
            level: Level::District,
            parent: Some("p".into()),
        }];
        assert!(matches!(
            UnitTree::new(units),
            Err(UnitsError::UnknownParent { line: 1, .. })
        ));
    }
}
