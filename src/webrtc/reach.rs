//! The browser softphone as a way to reach an operator in the bridge queue:
//! an operator with the page open is rung there (with the dossier on the
//! screen), and over SIP otherwise.

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{RingInfo, WebPhones};
use crate::bridge::queue::{DialContext, OperatorReach};
use crate::bridge::{LegHandle, LegKind};
use crate::store::{OperatorRecord, Store};

impl WebPhones {
    /// What the page shows when it rings: the dossier of the call (never the
    /// citizen's full number).
    async fn ring_info(store: &Store, ctx: &DialContext) -> RingInfo {
        let mut info = RingInfo {
            call_id: Some(ctx.call.to_string()),
            citizen: Some(ctx.display.clone()),
            ..RingInfo::default()
        };
        let call = store.call_summary(&ctx.call).await.ok().flatten();
        let code = call.and_then(|c| c.call.dossier_code);
        if let Some(code) = code
            && let Ok(Some(d)) = store.dossier(&code).await
        {
            let place = store
                .units()
                .await
                .ok()
                .and_then(|us| us.into_iter().find(|u| u.code == d.unit_code))
                .map(|u| u.name);
            info.dossier_code = Some(d.code);
            info.procedure = Some(d.procedure);
            info.field = Some(d.field);
            info.place = place.or(Some(d.unit_code));
            info.received_at = d.received_at.map(|t| t.to_rfc3339());
            info.returned_at = d.returned_at.map(|t| t.to_rfc3339());
        }
        info
    }
}

impl OperatorReach for WebPhones {
    fn kind(&self) -> LegKind {
        LegKind::WebRtc
    }

    fn reachable<'a>(&'a self, op: &'a OperatorRecord) -> BoxFuture<'a, bool> {
        let open = self.is_connected(&op.id);
        async move { open }.boxed()
    }

    fn dial<'a>(
        &'a self,
        op: &'a OperatorRecord,
        ctx: &'a DialContext,
    ) -> BoxFuture<'a, Option<LegHandle>> {
        async move {
            let info = Self::ring_info(self.store(), ctx).await;
            WebPhones::dial(self, &op.id, info).await
        }
        .boxed()
    }
}
