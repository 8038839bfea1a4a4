//! The simulated phone (placeholder until the phone module lands).

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
#[error("the simulated phone is not built yet")]
pub struct PhoneError;

pub struct Phone {
    addr: SocketAddr,
}

impl Phone {
    pub async fn start(bind: SocketAddr) -> Result<Phone, PhoneError> {
        let _ = bind;
        Err(PhoneError)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}
