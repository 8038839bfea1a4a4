//! SQL built at run time from fixed fragments and numbered `$n` parameters
//! (sqlx's Any query builder writes `?`, which PostgreSQL refuses). Only
//! constant text is concatenated; every value from a filter is bound.

use sqlx::Any;

/// A value bound to a placeholder.
pub(super) enum Param {
    Text(String),
    Int(i64),
}

/// SQL text with its `$n` parameters, numbered in the order they are pushed.
#[derive(Default)]
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) params: Vec<Param>,
}

impl Sql {
    pub(super) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub(super) fn bind(&mut self, p: Param) -> &mut Self {
        self.params.push(p);
        let n = self.params.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    pub(super) fn bind_text(&mut self, s: &str) -> &mut Self {
        self.bind(Param::Text(s.to_owned()))
    }

    /// `$a, $b, …`: each of `values` bound, for an `IN (…)` list.
    pub(super) fn bind_list(&mut self, values: &[String]) -> &mut Self {
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind_text(v);
        }
        self
    }

    pub(super) fn query(&self) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text.as_str()));
        for p in &self.params {
            q = match p {
                Param::Text(s) => q.bind(s.as_str()),
                Param::Int(i) => q.bind(*i),
            };
        }
        q
    }
}
