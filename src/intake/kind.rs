//! Applicant kinds: who filed the dossier.
//!
//! One-stop exports write the kind in Vietnamese, with or without diacritics
//! ("Cá nhân", "ca nhan", "TỔ CHỨC"), or in English. Diacritics are folded away
//! before matching, whether the text is precomposed (NFC, what most software
//! writes) or decomposed (NFD, as some macOS and legacy exports are), so no
//! Unicode-normalisation table is needed.

use std::fmt;

/// Whether a person or an organisation filed the dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApplicantKind {
    Person,
    Organisation,
}

impl ApplicantKind {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicantKind::Person => "person",
            ApplicantKind::Organisation => "organisation",
        }
    }

    /// Reads the kind as written in an export; `None` if unknown.
    pub fn parse(input: &str) -> Option<ApplicantKind> {
        let folded = fold(input);
        let words: Vec<&str> = folded.split_whitespace().collect();
        match words.join(" ").as_str() {
            "person" | "individual" | "citizen" | "ca nhan" | "cong dan" | "nguoi dan" => {
                Some(ApplicantKind::Person)
            }
            "organisation" | "organization" | "to chuc" | "doanh nghiep" | "company"
            | "business" | "enterprise" => Some(ApplicantKind::Organisation),
            _ => None,
        }
    }
}

impl fmt::Display for ApplicantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lower-case ASCII letters for Vietnamese text: tone and vowel marks dropped,
/// `đ` → `d`; `_` and `-` become spaces. Also used for column headers.
pub(super) fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            '_' | '-' => ' ',
            c => base_letter(c),
        })
        .collect()
}

/// The unaccented letter of a precomposed Vietnamese letter (lower case).
fn base_letter(c: char) -> char {
    const GROUPS: [(char, &str); 7] = [
        ('a', "àáảãạăằắẳẵặâầấẩẫậ"),
        ('e', "èéẻẽẹêềếểễệ"),
        ('i', "ìíỉĩị"),
        ('o', "òóỏõọôồốổỗộơờớởỡợ"),
        ('u', "ùúủũụưừứửữự"),
        ('y', "ỳýỷỹỵ"),
        ('d', "đ"),
    ];
    GROUPS
        .iter()
        .find(|(_, variants)| variants.contains(c))
        .map_or(c, |(base, _)| *base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_and_english_spellings() {
        for s in [
            "person",
            "Person",
            "individual",
            "citizen",
            "cá nhân",
            "Cá Nhân",
            "CÁ NHÂN",
            "ca nhan",
            " ca  nhan ",
            "ca_nhan",
            "ca\u{301} nha\u{302}n", // decomposed (NFD)
            "công dân",
        ] {
            assert_eq!(
                ApplicantKind::parse(s),
                Some(ApplicantKind::Person),
                "{s:?}"
            );
        }
        for s in [
            "organisation",
            "Organization",
            "tổ chức",
            "Tổ chức",
            "TỔ CHỨC",
            "to chuc",
            "to\u{302}\u{309} chu\u{31b}\u{301}c", // decomposed (NFD)
            "doanh nghiệp",
        ] {
            assert_eq!(
                ApplicantKind::parse(s),
                Some(ApplicantKind::Organisation),
                "{s:?}"
            );
        }
    }

    #[test]
    fn unknown_kinds() {
        for s in ["", "x", "cá", "nhân cá", "persons", "tổ"] {
            assert_eq!(ApplicantKind::parse(s), None, "{s:?}");
        }
    }
}
