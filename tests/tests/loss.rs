//! No silent loss: ring-buffer overflow in the kernel and a full subscriber
//! queue in user space are both counted in `scry status` and announced in the
//! event stream as `lost N events`.

use std::process::Command;
use std::time::Duration;

use scry_e2e::{Agent, Events, runtime};
use scry_model::Event;
use scry_model::filter::EventFilter;

fn run_true(n: usize) {
    for _ in 0..n {
        assert!(Command::new("/usr/bin/true").status().unwrap().success());
    }
}

/// One test at a time: the other's processes would overflow a 4 KiB ring
/// before its subscription exists, and those losses are announced to no
/// one (while the kernel count has them).
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn lost_counts(events: &[scry_model::EventEnvelope], source: &str) -> u64 {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::LostEvents(l) if l.source == source => Some(l.count),
            _ => None,
        })
        .sum()
}

#[test]
fn ring_buffer_overflow_is_counted_and_announced() {
    let _alone = alone();
    // A 4 KiB ring holds a handful of exec records.
    let agent = Agent::start(&["--ring-buffer-size", "4096"]);
    let rt = runtime();
    rt.block_on(async {
        let mut events = Events::subscribe(&agent, EventFilter::default()).await;
        // Freeze the agent so nothing drains the ring while processes run.
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(agent.pid() as i32, libc::SIGSTOP) };
        run_true(100);
        // SAFETY: as above.
        unsafe { libc::kill(agent.pid() as i32, libc::SIGCONT) };
        events
            .until(Duration::from_secs(10), "a ring_buffer lost notice", |seen| lost_counts(seen, "ring_buffer") > 0)
            .await;
        let status = agent.client().status().await.unwrap();
        let kernel_lost = status.sources[0].kernel_lost;
        // 100 execs, exits and forks cannot fit in 4 KiB: most were lost.
        assert!(kernel_lost >= 100, "kernel lost only {kernel_lost}");
        // Every kernel loss is announced, and only kernel losses as ring_buffer.
        // Other processes on the machine (other tests) may overflow the tiny
        // ring again meanwhile: the notices must catch up with the count.
        let mut lost = kernel_lost;
        for _ in 0..20 {
            // Waits in steps, so that a stall can be told apart from a miscount:
            // on failure the agent's own counters are in the message.
            for _ in 0..10 {
                if lost_counts(&events.seen, "ring_buffer") >= lost {
                    break;
                }
                events.collect_for(Duration::from_secs(1)).await;
            }
            let now = agent.client().status().await.unwrap();
            assert!(
                lost_counts(&events.seen, "ring_buffer") >= lost,
                "notices add up to {} of {lost} kernel losses after 10 s; {} events seen, the last at {:?}; now: \
                 kernel lost {}, events {}, stream {:?}",
                lost_counts(&events.seen, "ring_buffer"),
                events.seen.len(),
                events.seen.last().map(|e| e.time),
                now.sources[0].kernel_lost,
                now.sources[0].events,
                now.stream,
            );
            lost = now.sources[0].kernel_lost;
            if lost_counts(&events.seen, "ring_buffer") == lost {
                break;
            }
        }
        assert_eq!(lost_counts(&events.seen, "ring_buffer"), lost);
        assert_eq!(status.stream.queue_dropped, 0);
    });
}

#[test]
fn full_subscriber_queue_is_counted_and_announced() {
    let _alone = alone();
    let agent = Agent::start(&["--event-queue-size", "1"]);
    let rt = runtime();
    rt.block_on(async {
        // Subscribed, but not read while 300 processes run: the socket buffer
        // fills, then the one-slot queue, then events are dropped.
        let mut events = Events::subscribe(&agent, EventFilter::default()).await;
        run_true(300);
        // Wait until the agent has published everything (it drains its ring on
        // a timer): the published count holds still across a few drains.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut last = agent.client().status().await.unwrap();
        let status = loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = agent.client().status().await.unwrap();
            let settled =
                now.stream.events_published == last.stream.events_published && now.stream.events_published >= 600;
            if settled || std::time::Instant::now() > deadline {
                break now;
            }
            last = now;
        };
        let dropped = status.stream.queue_dropped;
        assert!(dropped > 0, "nothing was dropped: {:?}", status.stream);
        assert_eq!(status.sources[0].kernel_lost, 0);
        // Reading now brings what was queued and notices with the exact count:
        // together they account for every exec and exit.
        let delivered = |seen: &[scry_model::EventEnvelope]| {
            seen.iter().filter(|e| !matches!(e.event, Event::LostEvents(_))).count() as u64
        };
        events
            .until(Duration::from_secs(20), "stream_queue notices adding up to the drops", |seen| {
                lost_counts(seen, "stream_queue") == dropped && delivered(seen) + dropped >= 600
            })
            .await;
        assert_eq!(lost_counts(&events.seen, "stream_queue"), dropped);
    });
}
