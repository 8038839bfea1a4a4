//! Who may send requests inside our dialogs.
//!
//! RFC 3261 §12.2.2 matches an in-dialog request by Call-ID and tags only, and both
//! travel in the clear: anyone who saw (or guessed) them could BYE a citizen's call,
//! put it on hold with a re-INVITE, or press keys with INFO. We dial out only, so we
//! know where a dialog's requests may come from: the address we sent the INVITE to
//! (the trunk, or the phone's registered source), the dialog's remote target (the
//! peer's Contact, RFC 3261 §12.1.2) and the first hop of its route set. A request
//! from anywhere else gets 403 and never reaches the call.
//!
//! The legs register the INVITE's destination here with [`DialogPeers::allow`]; the
//! returned [`PeerGuard`] forgets it when the leg ends, so the table holds one small
//! entry per live leg and no more.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use rsipstack::dialog::dialog::Dialog;
use rsipstack::sip::{ToTypedHeader, Uri};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;

/// Addresses we sent each live dialog's INVITE to, by Call-ID.
#[derive(Debug, Default)]
pub struct DialogPeers {
    by_call: Mutex<HashMap<String, Vec<IpAddr>>>,
}

impl DialogPeers {
    /// Lets `ips` send requests in the dialogs of `call_id` until the guard drops.
    pub fn allow(
        self: &Arc<Self>,
        call_id: &str,
        ips: impl IntoIterator<Item = IpAddr>,
    ) -> PeerGuard {
        let ips = ips.into_iter().map(|ip| ip.to_canonical()).collect();
        self.lock().insert(call_id.to_string(), ips);
        PeerGuard {
            peers: self.clone(),
            call_id: call_id.to_string(),
        }
    }

    /// Whether `source` may send a request in `dialog` (Call-ID `call_id`).
    pub fn permits(&self, call_id: &str, source: IpAddr, dialog: &Dialog) -> bool {
        let source = source.to_canonical();
        if self
            .lock()
            .get(call_id)
            .is_some_and(|ips| ips.contains(&source))
        {
            return true;
        }
        dialog_hosts(dialog).contains(&Some(source))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<IpAddr>>> {
        // A panic while holding this lock cannot leave the map half-written.
        self.by_call.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Keeps a dialog's peers registered; forgets them when dropped.
#[derive(Debug)]
pub struct PeerGuard {
    peers: Arc<DialogPeers>,
    call_id: String,
}

impl Drop for PeerGuard {
    fn drop(&mut self) {
        self.peers.lock().remove(&self.call_id);
    }
}

/// The IP literals among the dialog's remote target, the peer's Contact and the first
/// route of its route set (hostnames are not resolved: a trunk named by host name is
/// covered by the addresses registered with [`DialogPeers::allow`]).
fn dialog_hosts(dialog: &Dialog) -> [Option<IpAddr>; 3] {
    let Dialog::Invite(d) = dialog else {
        return [None; 3];
    };
    let snap = d.snapshot();
    let target = uri_ip(&snap.remote_uri);
    let contact = dialog.remote_contact().as_ref().and_then(uri_ip);
    let route = snap
        .route_set
        .first()
        .and_then(|r| r.typed().ok())
        .and_then(|r| uri_ip(&r.uri));
    [target, contact, route]
}

fn uri_ip(uri: &Uri) -> Option<IpAddr> {
    SipAddr::try_from(uri)
        .ok()
        .and_then(|a| a.get_socketaddr().ok())
        .map(|a| a.ip().to_canonical())
}

/// Where a request really came from: the connection's peer (for UDP the
/// datagram's source), never a header the sender writes (issue 9 item 2: a
/// forged Via must not choose the address that is checked).
pub fn request_source(tx: &Transaction) -> Option<SocketAddr> {
    tx.connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| a.get_socketaddr().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_register_and_forget() {
        let peers = Arc::new(DialogPeers::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let g = peers.allow("a@carecall", [ip, "::ffff:192.0.2.2".parse().unwrap()]);
        assert!(
            peers
                .lock()
                .get("a@carecall")
                .is_some_and(|v| v.contains(&"192.0.2.2".parse::<IpAddr>().unwrap())),
            "mapped IPv6 stored as IPv4"
        );
        let g2 = peers.allow("b@carecall", [ip]);
        assert_eq!(peers.len(), 2);
        drop(g);
        assert_eq!(peers.len(), 1);
        drop(g2);
        assert_eq!(peers.len(), 0, "nothing left behind");
    }
}
