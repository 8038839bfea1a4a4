//! Storage: sqlx over SQLite or PostgreSQL, one repository per aggregate.
