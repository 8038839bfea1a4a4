//! The counts one report row is made of, and the rates derived from them.
//!
//! Everything stored is a count, so rows add up exactly (a total is the sum of
//! its parts) and the rates are computed once, here, the same way for every
//! table and export: no rate is ever averaged from other rates.

use serde::Serialize;

/// Q1 answers: 1 satisfied, 2 not satisfied, 3 other (questionnaire, seed 000).
pub const Q1_LABELS: [&str; 3] = ["Hài lòng", "Không hài lòng", "Khác"];

/// Q2 "what satisfied you most", in the words of the questionnaire (seed 000).
pub const Q2_LABELS: [&str; 5] = [
    "Trụ sở dễ tìm kiếm, nơi ngồi chờ thoáng mát, vệ sinh sạch sẽ",
    "Thái độ giao tiếp của công chức, viên chức, nhân viên tốt",
    "Hồ sơ TTHC đơn giản, rõ ràng, gọn nhẹ",
    "Thời gian thực hiện thủ tục nhanh hoặc đúng và trước hạn",
    "Kết quả giải quyết hồ sơ nhận được đảm bảo chính xác, đầy đủ",
];

/// Counts for one group of calls (a unit, a field, a month, … or all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Calls placed (every attempt counts).
    pub dialled: u64,
    /// Calls someone picked up.
    pub answered: u64,
    /// Calls whose survey has at least one answered question (Q1–Q5).
    pub surveyed: u64,
    /// Q1 answers by value 1..=3 (index 0 is "1", satisfied).
    pub q1: [u64; 3],
    /// Q2 answers by value 1..=5.
    pub q2: [u64; 5],
    /// Q4 scores by value 1..=10 (index 0 is the score 1).
    pub q4: [u64; 10],
    /// Calls with a complaint (Q3 spoken or written).
    pub complaints: u64,
    /// Calls with a suggestion (Q5 spoken or written).
    pub suggestions: u64,
}

/// The rates of a [`Stats`], `None` where the denominator is zero (an empty
/// group has no rate, which is not the same as a rate of 0 %).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    /// Q1 "satisfied" / Q1 answered (1, 2 or 3), as a fraction 0..=1.
    pub satisfaction: Option<f64>,
    /// Answered calls / dialled calls, as a fraction 0..=1.
    pub response: Option<f64>,
    /// Mean Q4 score (1..=10).
    pub score_average: Option<f64>,
}

impl Stats {
    /// Q1 answered with a valid value.
    pub fn q1_answered(&self) -> u64 {
        self.q1.iter().sum()
    }

    /// Q4 answered with a valid score.
    pub fn q4_answered(&self) -> u64 {
        self.q4.iter().sum()
    }

    pub fn rates(&self) -> Rates {
        let score_sum: u64 = (1..).zip(self.q4).map(|(score, n)| score * n).sum();
        Rates {
            satisfaction: ratio(self.q1[0], self.q1_answered()),
            response: ratio(self.answered, self.dialled),
            score_average: ratio(score_sum, self.q4_answered()),
        }
    }

    /// Adds `other`'s counts (for totals over rows).
    pub fn add(&mut self, other: &Stats) {
        self.dialled += other.dialled;
        self.answered += other.answered;
        self.surveyed += other.surveyed;
        add_all(&mut self.q1, &other.q1);
        add_all(&mut self.q2, &other.q2);
        add_all(&mut self.q4, &other.q4);
        self.complaints += other.complaints;
        self.suggestions += other.suggestions;
    }
}

fn add_all(into: &mut [u64], from: &[u64]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stats {
        Stats {
            dialled: 8,
            answered: 6,
            surveyed: 5,
            q1: [3, 1, 0],
            q2: [1, 2, 0, 0, 1],
            q4: [0, 0, 0, 0, 0, 0, 0, 1, 1, 2],
            complaints: 1,
            suggestions: 2,
        }
    }

    #[test]
    fn rates_from_counts() {
        let r = sample().rates();
        assert_eq!(r.satisfaction, Some(0.75));
        assert_eq!(r.response, Some(0.75));
        // (8 + 9 + 10 + 10) / 4
        assert_eq!(r.score_average, Some(9.25));
    }

    #[test]
    fn empty_group_has_no_rates() {
        let r = Stats::default().rates();
        assert_eq!(r.satisfaction, None);
        assert_eq!(r.response, None);
        assert_eq!(r.score_average, None);
    }

    #[test]
    fn adding_rows_adds_every_count() {
        let mut t = sample();
        t.add(&sample());
        assert_eq!(t.dialled, 16);
        assert_eq!(t.q1, [6, 2, 0]);
        assert_eq!(t.q4[9], 4);
        assert_eq!(t.suggestions, 4);
        // Rates of a doubled group are unchanged.
        assert_eq!(t.rates(), sample().rates());
    }
}
