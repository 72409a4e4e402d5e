//! The flow buffer and live subscribers: the last `capacity` flows for
//! `--last N` / `--first N` / `--since`, and a bounded queue per `--follow`
//! stream. A full queue drops for that subscriber only, counted, and its
//! stream announces the loss as a `lost_events` line (the fan-out is
//! `events::Fanout`, as for process events).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use scry_model::flow::{Flow, FlowBody, FlowResponse};

use crate::events::{Fanout, Subscription};

/// Decides whether a flow goes to a reader.
pub type Matcher = Box<dyn Fn(&Flow) -> bool + Send + Sync>;

/// Hubble's default flow buffer (`--hubble-event-buffer-capacity`).
pub const DEFAULT_CAPACITY: usize = 4095;

/// What `scry status` and `/metrics` show of the flow pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubCounters {
    /// Flows published since start.
    pub seen: u64,
    /// Flows in the buffer now, and its capacity.
    pub buffered: u64,
    pub capacity: u64,
    /// Flows dropped because a follower's queue was full.
    pub follower_dropped: u64,
    pub subscribers: u64,
}

pub struct FlowHub {
    capacity: usize,
    /// Locked around publishing and subscribing too, so a reader's window
    /// and its subscription neither overlap nor leave a gap.
    buffer: Mutex<VecDeque<Arc<FlowResponse>>>,
    followers: Fanout<FlowResponse>,
}

/// Which buffered flows a request wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// The last N that match.
    Last(usize),
    /// The first N that match.
    First(usize),
    /// Every match.
    All,
}

fn flow_matches(matcher: &Matcher, response: &FlowResponse) -> bool {
    matches!(&response.body, FlowBody::Flow(flow) if matcher(flow))
}

impl FlowHub {
    pub fn new(capacity: usize) -> FlowHub {
        FlowHub { capacity: capacity.max(1), buffer: Mutex::default(), followers: Fanout::default() }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<FlowResponse>>> {
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds flows to the buffer (the oldest fall out) and to every follower
    /// whose matcher takes them.
    pub fn publish(&self, flows: Vec<FlowResponse>) {
        let mut buffer = self.lock();
        for f in flows {
            let f = Arc::new(f);
            self.followers.publish(f.clone());
            if buffer.len() == self.capacity {
                buffer.pop_front();
            }
            buffer.push_back(f);
        }
    }

    /// The buffered flows `window` and `matcher` select, oldest first; with
    /// `follow` (a queue length), also a subscription that starts right
    /// after them.
    pub fn read(
        &self,
        window: Window,
        matcher: Matcher,
        follow: Option<usize>,
    ) -> (Vec<Arc<FlowResponse>>, Option<Subscription<FlowResponse>>) {
        let buffer = self.lock();
        let matches = |f: &&Arc<FlowResponse>| flow_matches(&matcher, f);
        let past: Vec<Arc<FlowResponse>> = match window {
            Window::First(n) => buffer.iter().filter(matches).take(n).cloned().collect(),
            Window::All => buffer.iter().filter(matches).cloned().collect(),
            Window::Last(n) => {
                let mut last: Vec<_> = buffer.iter().rev().filter(matches).take(n).cloned().collect();
                last.reverse();
                last
            }
        };
        let sub = follow.map(|queue| self.followers.subscribe(Box::new(move |f| flow_matches(&matcher, f)), queue));
        (past, sub)
    }

    pub fn counters(&self) -> HubCounters {
        HubCounters {
            seen: self.followers.published(),
            buffered: self.lock().len() as u64,
            capacity: self.capacity as u64,
            follower_dropped: self.followers.dropped(),
            subscribers: self.followers.subscribers(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn flow(port: u16) -> FlowResponse {
        let l4 = scry_model::flow::Layer4::Udp(scry_model::flow::Udp { source_port: port, destination_port: 53 });
        FlowResponse {
            body: FlowBody::Flow(Box::new(Flow { l4: Some(l4), ..Flow::default() })),
            node_name: "n".into(),
            time: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn port(f: &FlowResponse) -> u16 {
        match &f.body {
            FlowBody::Flow(flow) => flow.l4.as_ref().and_then(|l| l.ports()).map_or(0, |p| p.0),
            FlowBody::LostEvents(_) => 0,
        }
    }

    fn even() -> Matcher {
        Box::new(|f: &Flow| f.l4.as_ref().and_then(|l| l.ports()).is_some_and(|p| p.0 % 2 == 0))
    }

    #[test]
    fn the_buffer_keeps_the_newest_and_windows_select_matches() {
        let hub = FlowHub::new(5);
        hub.publish((1..=8).map(flow).collect());
        let ports = |w| hub.read(w, even(), None).0.iter().map(|f| port(f)).collect::<Vec<_>>();
        // 4..=8 are buffered; the even ones are 4, 6, 8.
        assert_eq!(ports(Window::All), [4, 6, 8]);
        assert_eq!(ports(Window::Last(2)), [6, 8]);
        assert_eq!(ports(Window::First(2)), [4, 6]);
        let c = hub.counters();
        assert_eq!((c.seen, c.buffered, c.capacity), (8, 5, 5));
    }

    #[test]
    fn followers_get_what_comes_after_their_window_and_count_what_they_miss() {
        let hub = FlowHub::new(100);
        hub.publish(vec![flow(2)]);
        let (past, sub) = hub.read(Window::Last(10), even(), Some(2));
        let mut sub = sub.unwrap();
        assert_eq!(past.iter().map(|f| port(f)).collect::<Vec<_>>(), [2]);
        hub.publish((3..=10).map(flow).collect());
        // 4, 6, 8, 10 matched; the queue held two.
        let got: Vec<_> = std::iter::from_fn(|| sub.rx.try_recv().ok()).map(|f| port(&f)).collect();
        assert_eq!(got, [4, 6]);
        assert_eq!(sub.lost.load(Ordering::Relaxed), 2);
        assert_eq!(hub.counters().follower_dropped, 2);
        drop(sub);
        hub.publish(vec![flow(12)]);
        assert_eq!(hub.counters().subscribers, 0);
    }
}
