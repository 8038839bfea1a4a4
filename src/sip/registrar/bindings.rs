//! Processing a REGISTER's contacts against the current bindings of its
//! address-of-record (RFC 3261 §10.3, steps 6 to 8), without I/O: the caller
//! passes the bindings it read and applies the [`Change`]s it gets back.

use super::contact::{ContactEntry, Contacts};

/// How long a binding may last (RFC 3261 §10.2.1.1, §10.3 step 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiresPolicy {
    /// Shorter non-zero requests get 423 Interval Too Brief.
    pub min_secs: u32,
    /// Longer requests are shortened to this.
    pub max_secs: u32,
    /// When neither the contact nor the request says.
    pub default_secs: u32,
}

/// One contact bound to the address-of-record, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub contact: String,
    /// "ip:port" the REGISTER came from.
    pub source: String,
    pub transport: String,
    pub user_agent: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    /// Unix milliseconds.
    pub expires_at_ms: i64,
}

/// What the REGISTER asks for, apart from authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRequest {
    pub contacts: Contacts,
    /// The Expires header field, if any.
    pub expires: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    pub source: String,
    pub transport: String,
    pub user_agent: Option<String>,
}

/// A change to the stored bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Upsert(Binding),
    Remove { contact: String },
    RemoveAll,
}

/// The changes to store and the bindings to list in the 200 (with the seconds
/// each has left, RFC 3261 §10.3 step 8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    pub changes: Vec<Change>,
    pub current: Vec<(String, u32)>,
}

/// Why the bindings were not changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// 423 with `Min-Expires` (§10.3 step 7).
    #[error("expiration shorter than {min_secs} s")]
    TooBrief { min_secs: u32 },
    /// 400: `*` needs `Expires: 0` (§10.3 step 6).
    #[error("'Contact: *' requires 'Expires: 0'")]
    StarNeedsExpiresZero,
    /// 500: a binding from the same Call-ID already has this or a later CSeq
    /// (§10.3 step 7: "the update MUST be aborted and the request fails").
    #[error("out-of-order CSeq for an existing binding")]
    OutOfOrder,
    /// 503: the AOR would have more than `max` bindings. Kamailio's registrar
    /// (`max_contacts`) refuses such a REGISTER the same way ("Too many
    /// registered contacts", 503) and keeps the existing bindings.
    #[error("more than {max} bindings for one operator")]
    TooMany { max: usize },
}

/// Applies `req` to `current` (the bindings stored for the AOR) at `now_ms`;
/// a request that would leave more than `max_contacts` bindings (0: no limit)
/// and adds to them is refused. Refreshes and removals always pass, so
/// lowering the limit never locks a phone out.
pub fn apply(
    req: &BindingRequest,
    current: &[Binding],
    policy: &ExpiresPolicy,
    max_contacts: usize,
    now_ms: i64,
) -> Result<Update, BindingError> {
    let live: Vec<&Binding> = current
        .iter()
        .filter(|b| b.expires_at_ms > now_ms)
        .collect();
    let entries = match &req.contacts {
        Contacts::Star => {
            if req.expires != Some(0) {
                return Err(BindingError::StarNeedsExpiresZero);
            }
            if live.iter().any(|b| out_of_order(b, req)) {
                return Err(BindingError::OutOfOrder);
            }
            return Ok(Update {
                changes: vec![Change::RemoveAll],
                current: Vec::new(),
            });
        }
        Contacts::List(entries) => entries,
    };
    // Every contact is checked before any is applied: a 423 changes nothing.
    let asked: Vec<(&ContactEntry, u32)> = entries
        .iter()
        .map(|e| (e, e.expires.or(req.expires).unwrap_or(policy.default_secs)))
        .collect();
    if asked.iter().any(|&(_, s)| s != 0 && s < policy.min_secs) {
        return Err(BindingError::TooBrief {
            min_secs: policy.min_secs,
        });
    }
    let mut changes = Vec::with_capacity(asked.len());
    for (entry, secs) in asked {
        let existing = live.iter().find(|b| same_uri(&b.contact, &entry.uri));
        if existing.is_some_and(|b| out_of_order(b, req)) {
            return Err(BindingError::OutOfOrder);
        }
        changes.push(if secs == 0 {
            Change::Remove {
                contact: existing.map_or_else(|| entry.uri.clone(), |b| b.contact.clone()),
            }
        } else {
            let secs = secs.min(policy.max_secs);
            Change::Upsert(Binding {
                contact: existing.map_or_else(|| entry.uri.clone(), |b| b.contact.clone()),
                source: req.source.clone(),
                transport: req.transport.clone(),
                user_agent: req.user_agent.clone(),
                call_id: req.call_id.clone(),
                cseq: req.cseq,
                expires_at_ms: now_ms + i64::from(secs) * 1000,
            })
        });
    }
    let current = after(&live, &changes, now_ms);
    if max_contacts > 0 && current.len() > max_contacts && current.len() > live.len() {
        return Err(BindingError::TooMany { max: max_contacts });
    }
    Ok(Update { changes, current })
}

/// Same Call-ID and a CSeq that is not higher: a stale or replayed update.
fn out_of_order(b: &Binding, req: &BindingRequest) -> bool {
    b.call_id == req.call_id && req.cseq <= b.cseq
}

/// RFC 3261 §19.1.4 compares scheme and host case-insensitively; comparing the
/// whole URI that way is close enough for contacts a phone re-sends verbatim.
fn same_uri(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The bindings after `changes`, with the whole seconds each has left.
fn after(live: &[&Binding], changes: &[Change], now_ms: i64) -> Vec<(String, u32)> {
    let left = |at: i64| u32::try_from((at - now_ms + 999) / 1000).unwrap_or(u32::MAX);
    let mut out: Vec<(String, u32)> = live
        .iter()
        .filter(|b| {
            !changes.iter().any(|c| match c {
                Change::Upsert(n) => n.contact == b.contact,
                Change::Remove { contact } => *contact == b.contact,
                Change::RemoveAll => true,
            })
        })
        .map(|b| (b.contact.clone(), left(b.expires_at_ms)))
        .collect();
    for c in changes {
        if let Change::Upsert(b) = c {
            out.push((b.contact.clone(), left(b.expires_at_ms)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_735_000_000_000;
    const POLICY: ExpiresPolicy = ExpiresPolicy {
        min_secs: 60,
        max_secs: 3600,
        default_secs: 600,
    };

    fn req(contacts: &[(&str, Option<u32>)], expires: Option<u32>, cseq: u32) -> BindingRequest {
        BindingRequest {
            contacts: Contacts::List(
                contacts
                    .iter()
                    .map(|&(uri, expires)| ContactEntry {
                        uri: uri.into(),
                        expires,
                    })
                    .collect(),
            ),
            expires,
            call_id: "call-1".into(),
            cseq,
            source: "127.0.0.1:5086".into(),
            transport: "udp".into(),
            user_agent: Some("baresip".into()),
        }
    }

    fn stored(contact: &str, call_id: &str, cseq: u32, left_secs: i64) -> Binding {
        Binding {
            contact: contact.into(),
            source: "10.0.0.9:5060".into(),
            transport: "udp".into(),
            user_agent: None,
            call_id: call_id.into(),
            cseq,
            expires_at_ms: NOW + left_secs * 1000,
        }
    }

    fn upserted(u: &Update) -> Vec<(&str, i64)> {
        u.changes
            .iter()
            .filter_map(|c| match c {
                Change::Upsert(b) => Some((b.contact.as_str(), (b.expires_at_ms - NOW) / 1000)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn contact_param_beats_header_beats_default_and_max_clamps() {
        let r = req(&[("sip:a@h", Some(120)), ("sip:b@h", None)], Some(7200), 1);
        let u = apply(&r, &[], &POLICY, 0, NOW).unwrap();
        assert_eq!(upserted(&u), vec![("sip:a@h", 120), ("sip:b@h", 3600)]);
        let u = apply(&req(&[("sip:c@h", None)], None, 1), &[], &POLICY, 0, NOW).unwrap();
        assert_eq!(upserted(&u), vec![("sip:c@h", 600)]);
        assert_eq!(u.current, vec![("sip:c@h".to_string(), 600)]);
    }

    #[test]
    fn too_brief_is_423_and_changes_nothing() {
        let r = req(&[("sip:a@h", Some(120)), ("sip:b@h", Some(59))], None, 1);
        assert_eq!(
            apply(&r, &[], &POLICY, 0, NOW),
            Err(BindingError::TooBrief { min_secs: 60 })
        );
        // Zero is a removal, never too brief.
        assert!(apply(&req(&[("sip:a@h", Some(0))], None, 1), &[], &POLICY, 0, NOW).is_ok());
    }

    #[test]
    fn removal_and_listing_of_the_others() {
        let current = [
            stored("sip:a@h", "other", 5, 100),
            stored("sip:b@h", "other", 5, 100),
            stored("sip:old@h", "other", 5, -1),
        ];
        let u = apply(
            &req(&[("SIP:A@H", Some(0))], None, 1),
            &current,
            &POLICY,
            0,
            NOW,
        )
        .unwrap();
        assert_eq!(
            u.changes,
            vec![Change::Remove {
                contact: "sip:a@h".into()
            }]
        );
        // The expired binding is not listed; the untouched one is, with its time left.
        assert_eq!(u.current, vec![("sip:b@h".to_string(), 100)]);
    }

    #[test]
    fn query_lists_without_changing() {
        let current = [stored("sip:a@h", "x", 1, 30)];
        let u = apply(&req(&[], None, 1), &current, &POLICY, 0, NOW).unwrap();
        assert!(u.changes.is_empty());
        assert_eq!(u.current, vec![("sip:a@h".to_string(), 30)]);
    }

    #[test]
    fn star_needs_expires_zero() {
        let mut r = req(&[], Some(0), 2);
        r.contacts = Contacts::Star;
        let current = [stored("sip:a@h", "call-1", 1, 30)];
        let u = apply(&r, &current, &POLICY, 0, NOW).unwrap();
        assert_eq!(u.changes, vec![Change::RemoveAll]);
        assert!(u.current.is_empty());
        r.expires = Some(10);
        assert_eq!(
            apply(&r, &current, &POLICY, 0, NOW),
            Err(BindingError::StarNeedsExpiresZero)
        );
        r.expires = None;
        assert!(apply(&r, &current, &POLICY, 0, NOW).is_err());
    }

    #[test]
    fn more_bindings_than_the_cap_are_refused_but_refreshes_pass() {
        let current = [
            stored("sip:a@h", "x", 1, 100),
            stored("sip:b@h", "y", 1, 100),
        ];
        let r = req(&[("sip:c@h", None)], None, 1);
        assert_eq!(
            apply(&r, &current, &POLICY, 2, NOW),
            Err(BindingError::TooMany { max: 2 })
        );
        assert!(apply(&r, &current, &POLICY, 3, NOW).is_ok());
        assert!(apply(&r, &current, &POLICY, 0, NOW).is_ok(), "0: no limit");
        // Replacing one (remove + add in one request) stays within the cap.
        let swap = req(&[("sip:a@h", Some(0)), ("sip:c@h", None)], None, 1);
        assert!(apply(&swap, &current, &POLICY, 2, NOW).is_ok());
        // Above a lowered cap, a refresh still passes.
        let refresh = req(&[("sip:a@h", None)], None, 1);
        assert!(apply(&refresh, &current, &POLICY, 1, NOW).is_ok());
        // Expired bindings do not count.
        let old = [stored("sip:a@h", "x", 1, -1), stored("sip:b@h", "y", 1, -1)];
        assert!(apply(&r, &old, &POLICY, 1, NOW).is_ok());
    }

    #[test]
    fn same_call_id_needs_a_higher_cseq() {
        let current = [stored("sip:a@h", "call-1", 5, 30)];
        let r = req(&[("sip:a@h", None)], None, 5);
        assert_eq!(
            apply(&r, &current, &POLICY, 0, NOW),
            Err(BindingError::OutOfOrder)
        );
        let r = req(&[("sip:a@h", None)], None, 6);
        let u = apply(&r, &current, &POLICY, 0, NOW).unwrap();
        assert_eq!(upserted(&u), vec![("sip:a@h", 600)]);
        // A new Call-ID (a rebooted phone) may start again at CSeq 1.
        let mut r = req(&[("sip:a@h", None)], None, 1);
        r.call_id = "call-2".into();
        assert!(apply(&r, &current, &POLICY, 0, NOW).is_ok());
    }
}
