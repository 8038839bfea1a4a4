//! The survey's cases: reports that count dossiers, not calls.
//!
//! For each group: the sampling frame (dossiers whose result was returned in
//! the period, seed 004) → sampled (drawn into a campaign, or called) →
//! reached (someone picked up) → complete (the questionnaire's complete
//! interview). The response rate is AAPOR RR1 as the BRIEF reads it,
//! complete / sampled, with its Wilson interval; call attempts are reported
//! beside it, never in place of cases. Satisfaction and the mean score are
//! read from the one response that counts per dossier (see
//! `store/coverage.rs`) and weighted by stratum (unit) when a row covers more
//! than one unit (`estimate`): a district is its own desk and its communes,
//! the province everything.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::estimate::{Estimate, Stratum, weighted_mean, weighted_rate, wilson};
use super::{Dimension, FilterError, Labels, ReportError, ReportFilter, level_name};
use crate::questionnaire::ReportRoles;
use crate::store::{Store, UnitRecord};

/// What a coverage report reads besides the data: the form's question roles
/// and the small-cell threshold (`reports.min_responses`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoverageSettings {
    pub roles: ReportRoles,
    pub min_responses: u64,
}

impl CoverageSettings {
    pub fn new(form: &crate::questionnaire::Questionnaire, min_responses: u64) -> Self {
        CoverageSettings {
            roles: form.report_roles(),
            min_responses,
        }
    }
}

/// The case counts of one group of dossiers. Each dossier counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DossierCounts {
    /// Dossiers returned in the period (the frame, N).
    pub frame: u64,
    /// Of those, drawn into a campaign or called.
    pub sampled: u64,
    /// Call attempts made for them (every call counts).
    pub attempts: u64,
    /// Dossiers whose citizen picked up at least once.
    pub reached: u64,
    /// Dossiers with a response that answered at least one question.
    pub responded: u64,
    /// Dossiers with a complete interview (I).
    pub complete: u64,
}

impl DossierCounts {
    pub fn add(&mut self, o: &DossierCounts) {
        self.frame += o.frame;
        self.sampled += o.sampled;
        self.attempts += o.attempts;
        self.reached += o.reached;
        self.responded += o.responded;
        self.complete += o.complete;
    }
}

/// What the store returns: one unit's dossiers in one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageCell {
    pub unit: String,
    /// The group (level, field, month…); `None` for a total or per unit.
    pub key: Option<String>,
    pub counts: DossierCounts,
    pub stratum: Stratum,
}

/// One row of a coverage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageRow {
    pub key: Option<String>,
    pub label: String,
    /// Per unit: the unit's level and parent (communes roll up into both).
    pub level: Option<String>,
    pub parent: Option<String>,
    pub counts: DossierCounts,
    /// RR1 = complete / sampled, Wilson interval; `small` below the minimum
    /// number of sampled cases.
    pub response_rate: Estimate,
    /// Satisfied / answered on the form's satisfaction question, weighted
    /// by unit.
    pub satisfaction: Estimate,
    /// Mean of the form's score question, weighted by unit.
    pub score: Estimate,
    /// Units (strata) the row is made of.
    pub strata: usize,
}

/// A coverage report grouped one way, with its total (the province, or the
/// user's scope).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    pub by: Dimension,
    pub rows: Vec<CoverageRow>,
    pub total: CoverageRow,
    /// The small-cell threshold the flags used.
    pub min_responses: u64,
}

/// The coverage of `filter`'s dossiers grouped `by`. Filters on calls or
/// answers (disposition, operator, score, satisfied, complaint) do not
/// describe dossiers and are refused, as is grouping by campaign (a dossier
/// may be in several).
pub async fn coverage(
    store: &Store,
    filter: &ReportFilter,
    by: Dimension,
    settings: &CoverageSettings,
) -> Result<CoverageReport, ReportError> {
    filter.validate()?;
    check_dossier_filter(filter, by)?;
    let cells = store.coverage_cells(filter, by, &settings.roles).await?;
    let units = store.units().await?;
    let labels = Labels::load(store, by).await?;
    Ok(assemble(by, cells, &units, &labels, settings.min_responses))
}

fn check_dossier_filter(f: &ReportFilter, by: Dimension) -> Result<(), FilterError> {
    let call_filter = [
        (f.disposition.is_some(), "disposition"),
        (f.operator.is_some(), "operator"),
        (f.filters_answers(), "score, satisfied or has_complaint"),
        (by == Dimension::Campaign, "by=campaign"),
    ];
    match call_filter.into_iter().find(|(set, _)| *set) {
        Some((_, name)) => Err(FilterError::NotPerDossier(name)),
        None => Ok(()),
    }
}

/// Builds the rows: per unit, each unit over itself and every unit under it;
/// otherwise per group key. Pure, for tests.
fn assemble(
    by: Dimension,
    cells: Vec<CoverageCell>,
    units: &[UnitRecord],
    labels: &Labels,
    min_n: u64,
) -> CoverageReport {
    let row = |key: Option<String>, label: String, cells: &[&CoverageCell]| {
        build_row(key, label, cells, min_n)
    };
    let all: Vec<&CoverageCell> = cells.iter().collect();
    let total = row(None, "Tổng cộng".to_owned(), &all);
    let rows = match by {
        Dimension::Total => vec![CoverageRow {
            key: Some(String::new()),
            ..total.clone()
        }],
        Dimension::Unit => per_unit(&cells, units, labels, min_n),
        _ => {
            let mut groups: BTreeMap<Option<String>, Vec<&CoverageCell>> = BTreeMap::new();
            for c in &cells {
                groups.entry(c.key.clone()).or_default().push(c);
            }
            groups
                .into_iter()
                .map(|(key, cells)| {
                    let label = labels.label(by, key.as_deref());
                    row(key, label, &cells)
                })
                .collect()
        }
    };
    CoverageReport {
        by,
        rows,
        total,
        min_responses: min_n,
    }
}

/// One row per unit that has dossiers in its subtree, in the tree's order
/// (province, then each district followed by its communes); a unit row
/// covers the unit and all units under it. Dossiers of units missing from
/// the list come last, each as its own row.
fn per_unit(
    cells: &[CoverageCell],
    units: &[UnitRecord],
    labels: &Labels,
    min_n: u64,
) -> Vec<CoverageRow> {
    let mut rows = Vec::new();
    for u in tree_order(units) {
        let subtree = super::with_descendants(units, &u.code);
        let mine: Vec<&CoverageCell> = cells.iter().filter(|c| subtree.contains(&c.unit)).collect();
        if mine.is_empty() {
            continue;
        }
        let mut r = build_row(Some(u.code.clone()), u.name.clone(), &mine, min_n);
        r.level = Some(u.level.clone());
        r.parent = u.parent.clone();
        rows.push(r);
    }
    let known: Vec<&str> = units.iter().map(|u| u.code.as_str()).collect();
    let mut orphans: BTreeMap<&str, Vec<&CoverageCell>> = BTreeMap::new();
    for c in cells.iter().filter(|c| !known.contains(&c.unit.as_str())) {
        orphans.entry(&c.unit).or_default().push(c);
    }
    for (code, mine) in orphans {
        let label = labels.label(Dimension::Unit, Some(code));
        rows.push(build_row(Some(code.to_owned()), label, &mine, min_n));
    }
    rows
}

/// Units parents first, children right after their parent, by code.
fn tree_order(units: &[UnitRecord]) -> Vec<&UnitRecord> {
    let mut children: HashMap<Option<&str>, Vec<&UnitRecord>> = HashMap::new();
    let codes: Vec<&str> = units.iter().map(|u| u.code.as_str()).collect();
    for u in units {
        // A parent missing from the list makes the unit a root, not lost.
        let parent = u.parent.as_deref().filter(|p| codes.contains(p));
        children.entry(parent).or_default().push(u);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| a.code.cmp(&b.code));
    }
    let mut out = Vec::with_capacity(units.len());
    let mut stack: Vec<&UnitRecord> = children.get(&None).cloned().unwrap_or_default();
    stack.reverse();
    while let Some(u) = stack.pop() {
        out.push(u);
        if let Some(kids) = children.get(&Some(u.code.as_str())) {
            stack.extend(kids.iter().rev());
        }
    }
    out
}

/// A row over `cells`: counts summed, strata merged per unit, estimates.
fn build_row(
    key: Option<String>,
    label: String,
    cells: &[&CoverageCell],
    min_n: u64,
) -> CoverageRow {
    let mut counts = DossierCounts::default();
    let mut strata: BTreeMap<&str, Stratum> = BTreeMap::new();
    for c in cells {
        counts.add(&c.counts);
        strata.entry(&c.unit).or_default().add(&c.stratum);
    }
    let strata: Vec<Stratum> = strata.into_values().collect();
    CoverageRow {
        key,
        label,
        level: None,
        parent: None,
        counts,
        response_rate: rate(counts.complete, counts.sampled, min_n),
        satisfaction: weighted_rate(&strata, min_n),
        score: weighted_mean(&strata, min_n),
        strata: strata.len(),
    }
}

/// A plain (unweighted) rate of the sample with its Wilson interval.
fn rate(yes: u64, n: u64, min_n: u64) -> Estimate {
    Estimate {
        value: (n > 0).then(|| yes as f64 / n as f64),
        n,
        n_effective: n as f64,
        ci95: wilson(yes, n),
        small: n < min_n,
    }
}

/// Vietnamese label of a row's level, for pages and workbooks.
pub fn row_level(r: &CoverageRow) -> &str {
    r.level.as_deref().map_or("", level_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(code: &str, level: &str, parent: Option<&str>) -> UnitRecord {
        UnitRecord {
            code: code.into(),
            name: format!("Đơn vị {code}"),
            level: level.into(),
            parent: parent.map(Into::into),
        }
    }

    fn units() -> Vec<UnitRecord> {
        vec![
            unit("xa-b", "commune", Some("huyen")),
            unit("tinh", "province", None),
            unit("huyen", "district", Some("tinh")),
            unit("xa-a", "commune", Some("huyen")),
            unit("khac", "district", Some("tinh")),
        ]
    }

    fn cell(unit: &str, frame: u64, n: u64, yes: u64) -> CoverageCell {
        CoverageCell {
            unit: unit.into(),
            key: None,
            counts: DossierCounts {
                frame,
                sampled: n + 2,
                attempts: 2 * n + 3,
                reached: n + 1,
                responded: n,
                complete: n,
            },
            stratum: Stratum {
                frame,
                rate_n: n,
                rate_yes: yes,
                ..Stratum::default()
            },
        }
    }

    #[test]
    fn units_come_in_tree_order() {
        let units = units();
        let codes: Vec<&str> = tree_order(&units).iter().map(|u| u.code.as_str()).collect();
        assert_eq!(codes, ["tinh", "huyen", "xa-a", "xa-b", "khac"]);
    }

    /// Communes roll up into their district and the province, weighted by
    /// their frames: xa-a (1,000 returned, 9/10 satisfied) and xa-b (100
    /// returned, 5/10) give the district 950/1100, not the pooled 14/20.
    #[test]
    fn communes_roll_up_weighted() {
        let cells = vec![cell("xa-a", 1000, 10, 9), cell("xa-b", 100, 10, 5)];
        let r = assemble(Dimension::Unit, cells, &units(), &Labels::default(), 30);
        let keys: Vec<&str> = r.rows.iter().map(|r| r.key.as_deref().unwrap()).collect();
        assert_eq!(keys, ["tinh", "huyen", "xa-a", "xa-b"]);
        let district = &r.rows[1];
        assert_eq!(district.strata, 2);
        assert_eq!(district.counts.frame, 1100);
        assert_eq!(district.counts.sampled, 24);
        assert_eq!(district.counts.attempts, 46);
        let p = district.satisfaction.value.unwrap();
        assert!((p - 950.0 / 1100.0).abs() < 1e-12, "{p}");
        assert_eq!(district.satisfaction.n, 20);
        assert!(district.satisfaction.small);
        assert_eq!(r.rows[0].satisfaction, district.satisfaction);
        assert_eq!(r.rows[2].satisfaction.value, Some(0.9));
        assert_eq!(r.rows[1].level.as_deref(), Some("district"));
        assert_eq!(r.rows[2].parent.as_deref(), Some("huyen"));
        // RR1 = complete / sampled.
        assert_eq!(district.response_rate.value, Some(20.0 / 24.0));
        assert_eq!(r.total.satisfaction, district.satisfaction);
    }

    #[test]
    fn a_unit_missing_from_the_list_still_shows() {
        let r = assemble(
            Dimension::Unit,
            vec![cell("moi", 10, 1, 1)],
            &units(),
            &Labels::default(),
            30,
        );
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].key.as_deref(), Some("moi"));
        assert_eq!(r.total.counts.frame, 10);
    }

    #[test]
    fn groups_weight_their_units() {
        let mut a = cell("xa-a", 1000, 10, 9);
        a.key = Some("Hộ tịch".into());
        let mut b = cell("xa-b", 100, 10, 5);
        b.key = Some("Hộ tịch".into());
        let mut c = cell("xa-b", 50, 40, 40);
        c.key = Some("Đất đai".into());
        let r = assemble(
            Dimension::Field,
            vec![a, b, c],
            &units(),
            &Labels::default(),
            30,
        );
        assert_eq!(r.rows.len(), 2);
        let ho_tich = r.rows.iter().find(|r| r.label == "Hộ tịch").unwrap();
        assert!((ho_tich.satisfaction.value.unwrap() - 950.0 / 1100.0).abs() < 1e-12);
        let dat_dai = r.rows.iter().find(|r| r.label == "Đất đai").unwrap();
        assert_eq!(dat_dai.satisfaction.value, Some(1.0));
        assert!(!dat_dai.satisfaction.small);
        // The total merges xa-b's two cells into one stratum (frame 150).
        assert_eq!(r.total.strata, 2);
        let want = (1000.0 * 0.9 + 150.0 * (45.0 / 50.0)) / 1150.0;
        assert!((r.total.satisfaction.value.unwrap() - want).abs() < 1e-12);
    }

    #[test]
    fn call_filters_are_refused() {
        let f = ReportFilter {
            disposition: Some("completed".into()),
            ..Default::default()
        };
        assert!(check_dossier_filter(&f, Dimension::Unit).is_err());
        assert!(check_dossier_filter(&ReportFilter::default(), Dimension::Campaign).is_err());
        assert!(check_dossier_filter(&ReportFilter::default(), Dimension::Month).is_ok());
    }
}
