//! Which connections the server takes, so that strangers cannot lock its
//! clients out.
//!
//! At most `max_connections` are open, and at most
//! `max_connections_per_address` from one client address (more are closed
//! at once). A connection is a stranger's until one of its requests shows
//! a valid token. When every slot is taken, a new connection evicts the
//! oldest stranger's: slow or silent connections without a token (a
//! slowloris attack) can delay a client by one handshake, never lock it
//! out. Only when every slot holds an authenticated client does a new
//! connection wait for one to close.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The open connections.
pub struct Admission {
    max: usize,
    per_address: usize,
    state: Mutex<Slots>,
    /// Signalled when a connection closes.
    freed: Notify,
}

#[derive(Default)]
struct Slots {
    open: usize,
    by_address: HashMap<IpAddr, usize>,
    /// Connections without a valid token yet, oldest first, each with the
    /// signal that closes it.
    strangers: BTreeMap<u64, Arc<Notify>>,
    /// Connections evicted but not closed yet: their slots are free already.
    evicted: HashSet<u64>,
    next_id: u64,
}

/// Why a connection is not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its address already has all the connections it may have.
    AddressFull,
}

/// An admitted connection's slot, given back when dropped.
pub struct Slot {
    admission: Arc<Admission>,
    id: u64,
    address: IpAddr,
    /// Notified when the slot is taken back from a stranger.
    pub evicted: Arc<Notify>,
}

impl Admission {
    pub fn new(max: usize, per_address: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max: max.max(1),
            per_address: per_address.max(1),
            state: Mutex::new(Slots::default()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // Every update leaves the counts consistent: a panic cannot tear them.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for a connection from `address`, evicting the oldest
    /// stranger if all are taken, or waiting if all hold clients.
    pub async fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Slot, Refusal> {
        loop {
            // Registered before the check, so a slot freed in between is
            // not missed.
            let freed = self.freed.notified();
            if let Some(result) = self.try_admit(address) {
                return result;
            }
            freed.await;
        }
    }

    /// A slot, a refusal, or `None` when the caller must wait.
    fn try_admit(self: &Arc<Self>, address: IpAddr) -> Option<Result<Slot, Refusal>> {
        let mut slots = self.lock();
        let from_address = slots.by_address.get(&address).copied().unwrap_or(0);
        if from_address >= self.per_address {
            return Some(Err(Refusal::AddressFull));
        }
        if slots.open >= self.max {
            let (id, oldest) = slots.strangers.pop_first()?;
            // Its slot is counted free now; the connection closes shortly.
            oldest.notify_one();
            slots.evicted.insert(id);
            slots.open -= 1;
        }
        slots.open += 1;
        *slots.by_address.entry(address).or_default() += 1;
        let id = slots.next_id;
        slots.next_id += 1;
        let evicted = Arc::new(Notify::new());
        slots.strangers.insert(id, Arc::clone(&evicted));
        Some(Ok(Slot {
            admission: Arc::clone(self),
            id,
            address,
            evicted,
        }))
    }
}

impl Slot {
    /// The connection showed a valid token: it is a client's from now on.
    pub fn prove(&self) {
        self.admission.lock().strangers.remove(&self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut slots = self.admission.lock();
        slots.strangers.remove(&self.id);
        // An evicted stranger's slot was already counted free.
        if !slots.evicted.remove(&self.id) {
            slots.open = slots.open.saturating_sub(1);
        }
        if let Some(n) = slots.by_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                slots.by_address.remove(&self.address);
            }
        }
        drop(slots);
        self.admission.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[tokio::test]
    async fn strangers_make_room_and_addresses_are_bounded() {
        let admission = Admission::new(3, 2);
        let a = admission.admit(ip(2)).await.unwrap();
        let b = admission.admit(ip(2)).await.unwrap();
        assert_eq!(
            admission.try_admit(ip(2)).map(|r| r.err()),
            Some(Some(Refusal::AddressFull))
        );
        let c = admission.admit(ip(3)).await.unwrap();
        c.prove();
        // Full: the oldest stranger (a) is evicted for a newcomer.
        let d = admission.admit(ip(1)).await.unwrap();
        d.prove();
        drop(a);
        let e = admission.admit(ip(1)).await.unwrap();
        e.prove();
        // b evicted; now every slot holds a client: a newcomer waits.
        assert!(admission.try_admit(ip(4)).is_none());
        drop(c);
        assert!(admission.try_admit(ip(4)).is_some_and(|r| r.is_ok()));
        drop(b);
    }
}
