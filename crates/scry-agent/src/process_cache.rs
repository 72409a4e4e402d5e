//! The process cache: every process image the agent knows, so that an event can
//! name its process, its parent and its ancestors.
//!
//! An entry is one process *image*: a fork creates one (flag `clone`), each exec
//! creates one. Bounded by an LRU of configurable capacity. An exited entry
//! stays for a grace period so late events still find it, and longer while a
//! cached child names it as parent (as Tetragon's refcount does), so ancestry
//! outlives short-lived parents.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;
use scry_model::Process;

/// Identifies one process image: tgid and the boot-relative ns time it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecKey {
    pub pid: u32,
    pub ktime: u64,
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub process: Process,
    pub parent: Option<ExecKey>,
    /// Forked and not (yet) exec'd.
    pub is_clone: bool,
    /// Cached entries naming this one as parent.
    children: u32,
    /// When the grace period after exit (or after being replaced by exec) ends.
    remove_after: Option<Instant>,
}

impl Entry {
    pub fn new(process: Process, parent: Option<ExecKey>, is_clone: bool) -> Entry {
        Entry { process, parent, is_clone, children: 0, remove_after: None }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    pub evictions: u64,
    pub misses: u64,
}

pub struct ProcessCache {
    entries: LruCache<ExecKey, Entry>,
    /// The current image of each live tgid.
    by_pid: HashMap<u32, ExecKey>,
    /// Entries whose grace period is running, in deadline order.
    retiring: VecDeque<(Instant, ExecKey)>,
    grace: Duration,
    pub counters: CacheCounters,
}

impl ProcessCache {
    pub fn new(capacity: NonZeroUsize, grace: Duration) -> ProcessCache {
        ProcessCache {
            entries: LruCache::new(capacity),
            by_pid: HashMap::new(),
            retiring: VecDeque::new(),
            grace,
            counters: CacheCounters::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn capacity(&self) -> usize {
        self.entries.cap().get()
    }

    pub fn retiring(&self) -> usize {
        self.retiring.len()
    }

    /// The current image of `pid`.
    pub fn current(&mut self, pid: u32) -> Option<(ExecKey, &Entry)> {
        let key = *self.by_pid.get(&pid)?;
        self.entries.get(&key).map(|e| (key, e))
    }

    pub fn get(&mut self, key: ExecKey) -> Option<&Entry> {
        self.entries.get(&key)
    }

    /// Counts an event whose process or parent was not found.
    pub fn miss(&mut self) {
        self.counters.misses += 1;
    }

    /// Adds an image and makes it `pid`'s current one.
    pub fn insert(&mut self, key: ExecKey, entry: Entry) {
        if let Some(parent) = entry.parent
            && let Some(p) = self.entries.peek_mut(&parent)
        {
            p.children += 1;
        }
        self.by_pid.insert(key.pid, key);
        if let Some((old_key, old)) = self.entries.push(key, entry)
            && old_key != key
        {
            if old.remove_after.is_none() {
                self.counters.evictions += 1;
            }
            self.forget(old_key, &old, Instant::now());
        }
    }

    /// Starts the grace period of an image that exited or was replaced by exec.
    pub fn retire(&mut self, key: ExecKey, now: Instant) {
        if let Some(e) = self.entries.peek_mut(&key)
            && e.remove_after.is_none()
        {
            let due = now + self.grace;
            e.remove_after = Some(due);
            self.retiring.push_back((due, key));
        }
    }

    /// Drops an image at once (a clone entry superseded by its exec).
    pub fn remove(&mut self, key: ExecKey, now: Instant) {
        if let Some(old) = self.entries.pop(&key) {
            self.forget(key, &old, now);
        }
    }

    /// Removes retired entries whose grace period is over and that no cached
    /// child still names as parent.
    pub fn sweep(&mut self, now: Instant) {
        while let Some(&(due, key)) = self.retiring.front() {
            if due > now {
                break;
            }
            self.retiring.pop_front();
            if self.entries.peek(&key).is_some_and(|e| e.children == 0) {
                self.remove(key, now);
            }
        }
    }

    /// Unlinks a removed entry: its pid mapping, and its hold on its parent
    /// (which may let the parent, and so on up, go too).
    fn forget(&mut self, key: ExecKey, removed: &Entry, now: Instant) {
        if self.by_pid.get(&key.pid) == Some(&key) {
            self.by_pid.remove(&key.pid);
        }
        let mut parent = removed.parent;
        while let Some(pk) = parent.take() {
            let Some(p) = self.entries.peek_mut(&pk) else { break };
            p.children = p.children.saturating_sub(1);
            let done = p.children == 0 && p.remove_after.is_some_and(|due| due <= now);
            if done && let Some(gone) = self.entries.pop(&pk) {
                if self.by_pid.get(&pk.pid) == Some(&pk) {
                    self.by_pid.remove(&pk.pid);
                }
                parent = gone.parent;
            }
        }
    }

    /// The chain above `key`'s parent, nearest first, at most `max` long.
    pub fn ancestors(&mut self, key: ExecKey, max: usize) -> Vec<Process> {
        let mut out = Vec::new();
        let mut next = self.entries.peek(&key).and_then(|e| e.parent);
        // Skip the parent itself: events carry it separately.
        next = next.and_then(|p| self.entries.peek(&p)).and_then(|e| e.parent);
        while let Some(k) = next {
            if out.len() >= max {
                break;
            }
            let Some(e) = self.entries.peek(&k) else { break };
            out.push(e.process.clone());
            next = e.parent;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, binary: &str) -> Process {
        Process { pid: Some(pid), binary: binary.into(), ..Default::default() }
    }

    fn cache(cap: usize) -> ProcessCache {
        ProcessCache::new(NonZeroUsize::new(cap).unwrap(), Duration::from_secs(10))
    }

    #[test]
    fn current_image_follows_exec() {
        let mut c = cache(8);
        let a = ExecKey { pid: 10, ktime: 1 };
        let b = ExecKey { pid: 10, ktime: 2 };
        c.insert(a, Entry::new(proc(10, "/bin/sh"), None, false));
        c.insert(b, Entry::new(proc(10, "/bin/ls"), Some(a), false));
        assert_eq!(c.current(10).unwrap().1.process.binary, "/bin/ls");
        assert_eq!(c.get(a).unwrap().process.binary, "/bin/sh");
    }

    #[test]
    fn exited_entries_stay_for_the_grace_period_and_while_children_live() {
        let mut c = cache(8);
        let now = Instant::now();
        let parent = ExecKey { pid: 1, ktime: 1 };
        let child = ExecKey { pid: 2, ktime: 2 };
        c.insert(parent, Entry::new(proc(1, "/p"), None, false));
        c.insert(child, Entry::new(proc(2, "/c"), Some(parent), false));
        c.retire(parent, now);
        c.sweep(now + Duration::from_secs(5));
        assert!(c.get(parent).is_some(), "within grace");
        c.sweep(now + Duration::from_secs(11));
        assert!(c.get(parent).is_some(), "held by a live child");
        c.retire(child, now);
        c.sweep(now + Duration::from_secs(11));
        assert!(c.get(child).is_none());
        assert!(c.get(parent).is_none(), "released with its last child");
        assert_eq!(c.len(), 0);
        assert_eq!(c.retiring(), 0);
    }

    #[test]
    fn capacity_bounds_memory_and_counts_live_evictions() {
        let mut c = cache(3);
        for pid in 0..5 {
            c.insert(ExecKey { pid, ktime: pid as u64 }, Entry::new(proc(pid, "/x"), None, false));
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.counters.evictions, 2);
        assert!(c.current(0).is_none() && c.current(1).is_none());
        assert!(c.current(4).is_some());
    }

    #[test]
    fn ancestors_skip_the_parent() {
        let mut c = cache(8);
        let keys: Vec<ExecKey> = (1..=4).map(|pid| ExecKey { pid, ktime: pid as u64 }).collect();
        for (i, &k) in keys.iter().enumerate() {
            let parent = i.checked_sub(1).map(|j| keys[j]);
            c.insert(k, Entry::new(proc(k.pid, &format!("/b{}", k.pid)), parent, false));
        }
        let chain: Vec<String> = c.ancestors(keys[3], 10).into_iter().map(|p| p.binary).collect();
        assert_eq!(chain, ["/b2", "/b1"]);
        assert_eq!(c.ancestors(keys[3], 1).len(), 1);
    }
}
