//! Fan-out of events to stream subscribers. Each subscriber has its own bounded
//! queue and filter; a full queue drops the event for that subscriber only,
//! counts it, and the subscriber's stream says `lost N events` next.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use scry_model::EventEnvelope;
use scry_model::filter::CompiledFilter;
use tokio::sync::mpsc;

struct Subscriber {
    filter: CompiledFilter,
    tx: mpsc::Sender<Arc<EventEnvelope>>,
    lost: Arc<AtomicU64>,
}

pub struct Subscription {
    pub rx: mpsc::Receiver<Arc<EventEnvelope>>,
    /// Events this subscriber missed since it last reported a loss.
    pub lost: Arc<AtomicU64>,
}

#[derive(Default)]
pub struct EventBus {
    subscribers: Mutex<Vec<Subscriber>>,
    published: AtomicU64,
    dropped: AtomicU64,
}

impl EventBus {
    pub fn subscribe(&self, filter: CompiledFilter, queue: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let lost = Arc::new(AtomicU64::new(0));
        self.lock().push(Subscriber { filter, tx, lost: lost.clone() });
        Subscription { rx, lost }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn publish(&self, event: EventEnvelope) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let event = Arc::new(event);
        self.lock().retain(|s| {
            if !s.filter.matches(&event.event) {
                return !s.tx.is_closed();
            }
            match s.tx.try_send(event.clone()) {
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
    use scry_model::filter::EventFilter;

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
        let all = EventFilter::default().compile().unwrap();
        let mut slow = bus.subscribe(all.clone(), 2);
        let mut fast = bus.subscribe(all, 16);
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
