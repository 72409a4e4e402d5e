//! Fan-out of events (and flows) to stream subscribers. Each subscriber has
//! its own bounded queue and matcher; a full queue drops the item for that
//! subscriber only, counts it, and the subscriber's stream says so next.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use scry_model::EventEnvelope;
use tokio::sync::mpsc;

/// Decides whether an item goes to a subscriber.
pub type Matcher<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

struct Subscriber<T> {
    matches: Matcher<T>,
    tx: mpsc::Sender<Arc<T>>,
    lost: Arc<AtomicU64>,
}

pub struct Subscription<T> {
    pub rx: mpsc::Receiver<Arc<T>>,
    /// Items this subscriber missed since it last reported a loss.
    pub lost: Arc<AtomicU64>,
}

pub struct Fanout<T> {
    subscribers: Mutex<Vec<Subscriber<T>>>,
    published: AtomicU64,
    dropped: AtomicU64,
}

/// The process event stream.
pub type EventBus = Fanout<EventEnvelope>;

impl<T> Default for Fanout<T> {
    fn default() -> Self {
        Fanout { subscribers: Mutex::default(), published: AtomicU64::new(0), dropped: AtomicU64::new(0) }
    }
}

impl<T> Fanout<T> {
    pub fn subscribe(&self, matches: Matcher<T>, queue: usize) -> Subscription<T> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let lost = Arc::new(AtomicU64::new(0));
        self.lock().push(Subscriber { matches, tx, lost: lost.clone() });
        Subscription { rx, lost }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber<T>>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn publish(&self, item: impl Into<Arc<T>>) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let item = item.into();
        self.lock().retain(|s| {
            if !(s.matches)(&item) {
                return !s.tx.is_closed();
            }
            match s.tx.try_send(item.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.lost.fetch_add(1, Ordering::Relaxed);
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    pub fn subscribers(&self) -> u64 {
        self.lock().len() as u64
    }

    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scry_model::event::{Event, LostEvents};

    fn ev(n: u64) -> EventEnvelope {
        EventEnvelope {
            event: Event::LostEvents(LostEvents { count: n, source: "t".into() }),
            node_name: "".into(),
            time: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn full_queue_drops_and_counts_for_that_subscriber_only() {
        let bus = EventBus::default();
        let mut slow = bus.subscribe(Box::new(|_| true), 2);
        let mut fast = bus.subscribe(Box::new(|_| true), 16);
        for n in 0..5 {
            bus.publish(ev(n));
        }
        assert_eq!(slow.lost.load(Ordering::Relaxed), 3);
        assert_eq!(fast.lost.load(Ordering::Relaxed), 0);
        assert_eq!((bus.published(), bus.dropped()), (5, 3));
        assert_eq!(std::iter::from_fn(|| slow.rx.try_recv().ok()).count(), 2);
        assert_eq!(std::iter::from_fn(|| fast.rx.try_recv().ok()).count(), 5);
        drop(slow);
        bus.publish(ev(9));
        assert_eq!(bus.subscribers(), 1);
    }
}
