//! Which unit a dossier row names. One-stop exports write a unit the way the
//! clerk typed it: "UBND xã Mỹ Hiệp", "Xã Mỹ Hiệp", "XA MY HIEP", "TP. Cao
//! Lãnh", with or without diacritics, precomposed or decomposed. A row whose
//! unit cannot be matched is not refused: it waits in a mapping list until an
//! administrator maps the name once (an alias), and then every waiting and
//! future row with that name follows (see `store/unit_aliases.rs`).
//!
//! Pure: the unit list and the aliases come in, a unit code comes out.

use std::collections::HashMap;

use super::kind::fold;
use crate::store::UnitRecord;

/// Words before a unit's own name that say who runs its desk, not which unit
/// it is (folded). "UBND xã Mỹ Hiệp" is the commune Mỹ Hiệp.
const AUTHORITY: [&str; 6] = [
    "uy ban nhan dan",
    "ubnd",
    "bo phan tiep nhan va tra ket qua",
    "bo phan mot cua",
    "bp tn&tkq",
    "bp mot cua",
];

/// Abbreviations of unit kinds, spelled out (folded).
const ABBREVIATIONS: [(&str, &str); 4] = [
    ("tp", "thanh pho"),
    ("tx", "thi xa"),
    ("tt", "thi tran"),
    ("p", "phuong"),
];

/// Unit kinds that may or may not be written before the name (folded).
const KINDS: [&str; 7] = [
    "thanh pho",
    "thi xa",
    "thi tran",
    "phuong",
    "huyen",
    "xa",
    "tinh",
];

/// The comparison key of a unit name: folded (no case, no diacritics),
/// punctuation as spaces, abbreviations spelled out, authority words dropped.
/// "UBND xã Mỹ Hiệp", "Xã  Mỹ Hiệp" and "XA MY HIEP" share the key "xa my hiep".
pub fn unit_key(name: &str) -> String {
    let folded: String = fold(name)
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '&' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut words: Vec<&str> = folded.split_whitespace().collect();
    if let Some((_, full)) = ABBREVIATIONS.iter().find(|(a, _)| words.first() == Some(a))
        && words.len() > 1
    {
        words.splice(0..1, full.split(' '));
    }
    let mut key = words.join(" ");
    while let Some(rest) = AUTHORITY
        .iter()
        .find_map(|a| key.strip_prefix(a).and_then(|r| r.strip_prefix(' ')))
    {
        key = rest.to_owned();
    }
    key
}

/// The key without its unit kind ("xa my hiep" → "my hiep"), for lists that
/// name units without "Xã"/"Huyện".
fn bare(key: &str) -> &str {
    KINDS
        .iter()
        .find_map(|k| key.strip_prefix(k).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or(key)
}

/// Finds a row's unit: by code, by exact name, by [`unit_key`], by an
/// administrator's alias, then by the bare name when only one unit has it.
/// A name two units share (communes repeat across districts) matches none:
/// it waits for an alias rather than being guessed.
#[derive(Debug, Clone, Default)]
pub struct UnitMatcher {
    codes: HashMap<String, String>,
    by_key: HashMap<String, Option<String>>,
    by_bare: HashMap<String, Option<String>>,
    aliases: HashMap<String, String>,
}

impl UnitMatcher {
    /// `aliases`: (name key, unit code) pairs from the store.
    pub fn new(units: &[UnitRecord], aliases: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut m = UnitMatcher::default();
        for u in units {
            m.codes.insert(u.code.to_lowercase(), u.code.clone());
            let key = unit_key(&u.name);
            insert_unique(&mut m.by_bare, bare(&key).to_owned(), &u.code);
            insert_unique(&mut m.by_key, key, &u.code);
        }
        m.aliases = aliases.into_iter().collect();
        m
    }

    /// The unit code `given` names, or `None` (unknown or ambiguous).
    pub fn resolve(&self, given: &str) -> Option<String> {
        let given = given.trim();
        if let Some(code) = self.codes.get(&given.to_lowercase()) {
            return Some(code.clone());
        }
        let key = unit_key(given);
        if key.is_empty() {
            return None;
        }
        if let Some(code) = self.aliases.get(&key) {
            return Some(code.clone());
        }
        if let Some(found) = self.by_key.get(&key) {
            return found.clone();
        }
        self.by_bare.get(bare(&key)).cloned().flatten()
    }
}

/// Records `code` under `key`, or marks the key ambiguous (`None`) when
/// another unit already has it.
fn insert_unique(map: &mut HashMap<String, Option<String>>, key: String, code: &str) {
    map.entry(key)
        .and_modify(|c| {
            if c.as_deref() != Some(code) {
                *c = None;
            }
        })
        .or_insert_with(|| Some(code.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(code: &str, name: &str, level: &str, parent: Option<&str>) -> UnitRecord {
        UnitRecord {
            code: code.into(),
            name: name.into(),
            level: level.into(),
            parent: parent.map(Into::into),
        }
    }

    fn units() -> Vec<UnitRecord> {
        vec![
            unit(
                "tinh",
                "Trung tâm Phục vụ hành chính công tỉnh Đồng Tháp",
                "province",
                None,
            ),
            unit(
                "tp-cao-lanh",
                "Thành phố Cao Lãnh",
                "district",
                Some("tinh"),
            ),
            unit("h-cao-lanh", "Huyện Cao Lãnh", "district", Some("tinh")),
            unit("xa-my-hiep", "Xã Mỹ Hiệp", "commune", Some("h-cao-lanh")),
            unit("xa-an-binh-1", "Xã An Bình", "commune", Some("h-cao-lanh")),
            unit("xa-an-binh-2", "Xã An Bình", "commune", Some("tp-cao-lanh")),
        ]
    }

    #[test]
    fn keys_fold_case_diacritics_and_authority_words() {
        for s in [
            "Xã Mỹ Hiệp",
            "UBND xã Mỹ Hiệp",
            "Ủy ban nhân dân xã Mỹ Hiệp",
            "  XÃ  MỸ HIỆP ",
            "xa my hiep",
            "Xa\u{303} My\u{303} Hie\u{323}\u{302}p", // decomposed (NFD)
            "UBND - Xã Mỹ Hiệp.",
        ] {
            assert_eq!(unit_key(s), "xa my hiep", "{s:?}");
        }
        assert_eq!(unit_key("TP. Cao Lãnh"), "thanh pho cao lanh");
        assert_eq!(unit_key("TP"), "tp");
    }

    #[test]
    fn the_matcher_tolerates_how_clerks_write_units() {
        let m = UnitMatcher::new(&units(), []);
        assert_eq!(m.resolve("XA-MY-HIEP").as_deref(), Some("xa-my-hiep"));
        assert_eq!(m.resolve("UBND xã Mỹ Hiệp").as_deref(), Some("xa-my-hiep"));
        assert_eq!(m.resolve("Mỹ Hiệp").as_deref(), Some("xa-my-hiep"));
        assert_eq!(m.resolve("TP. Cao Lãnh").as_deref(), Some("tp-cao-lanh"));
        assert_eq!(m.resolve("huyen cao lanh").as_deref(), Some("h-cao-lanh"));
        // Two communes are called An Bình, and "Cao Lãnh" alone is a city and
        // a district: waiting beats guessing.
        assert_eq!(m.resolve("UBND xã An Bình"), None);
        assert_eq!(m.resolve("Cao Lãnh"), None);
        assert_eq!(m.resolve("Xã Không Có"), None);
        assert_eq!(m.resolve("  "), None);
    }

    #[test]
    fn an_alias_settles_a_name_once() {
        let alias = (
            unit_key("UBND xã An Bình (TP Cao Lãnh)"),
            "xa-an-binh-2".to_owned(),
        );
        let m = UnitMatcher::new(&units(), [alias]);
        assert_eq!(
            m.resolve("Ubnd Xa An Binh (TP Cao Lanh)").as_deref(),
            Some("xa-an-binh-2")
        );
        assert_eq!(m.resolve("Xã An Bình"), None);
    }

    /// After the 2025 reform communes sit directly under the province: the
    /// matcher reads whatever tree the data holds.
    #[test]
    fn a_two_level_unit_list_works_by_data() {
        let list = vec![
            unit("tinh", "Tỉnh Đồng Tháp", "province", None),
            unit(
                "phuong-cao-lanh",
                "Phường Cao Lãnh",
                "commune",
                Some("tinh"),
            ),
        ];
        let m = UnitMatcher::new(&list, []);
        assert_eq!(
            m.resolve("UBND phường Cao Lãnh").as_deref(),
            Some("phuong-cao-lanh")
        );
        assert_eq!(m.resolve("P. Cao Lãnh").as_deref(), Some("phuong-cao-lanh"));
    }
}
