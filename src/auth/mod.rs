//! Who may do what: users' roles and unit scopes, password hashing, secret
//! tokens for sessions and the API, and the failed-login limiter.
//!
//! Sans-IO like the protocol code: nothing here touches the network or the
//! database. `crate::http::auth` looks users up in the store and applies these
//! rules to each request.

mod limiter;
mod password;
mod role;
mod secret;

pub use limiter::{LimiterSettings, LoginLimiter, RetryAfter};
pub use password::{PasswordError, hash_password, verify_password};
pub use role::{Permission, Role, Scope};
pub use secret::{Secret, hash_secret};
