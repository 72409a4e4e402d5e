//! The process cache: every process image the agent knows, so that an event can
//! name its process, its parent and its ancestors.
//!
//! An entry is one process *image*: a fork creates one (flag `clone`), each exec
//! creates one. A clone's `Process` (its parent's, renamed) is built only when
//! something asks for it: most clones exec at once and are never named. Bounded by an LRU of configurable capacity. An exited entry
//! stays for a grace period so late events still find it, and longer while a
//! cached child names it as parent (as Tetragon's refcount does), so ancestry
//! outlives short-lived parents.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lru::LruCache;
use scry_model::Process;
use scry_model::event::Timestamp;

/// Identifies one process image: tgid and the boot-relative ns time it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecKey {
    pub pid: u32,
    pub ktime: u64,
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// Shared with the events that name this image. For an unbuilt clone, the
    /// parent image it copies.
    process: Arc<Process>,
    unbuilt: Option<CloneIdentity>,
    pub parent: Option<ExecKey>,
    /// Forked and not (yet) exec'd.
    pub is_clone: bool,
    /// Cached entries naming this one as parent.
    children: u32,
    /// When the grace period after exit (or after being replaced by exec) ends.
    remove_after: Option<Instant>,
    /// The image that exec'd this one (a clone or the image it replaced),
    /// with that image's parent: hooks at exec name the caller.
    pub caller: Option<(Arc<Process>, Option<ExecKey>)>,
}

/// What a clone has of its own; the rest it takes from its parent.
#[derive(Clone, Debug)]
pub struct CloneIdentity {
    pub exec_id: String,
    pub start_time: Timestamp,
}

impl Entry {
    /// An exec'd image (or one found in /proc).
    pub fn image(process: Arc<Process>, parent: Option<ExecKey>) -> Entry {
        Entry { process, unbuilt: None, parent, is_clone: false, children: 0, remove_after: None, caller: None }
    }

    /// Names the image that exec'd this one.
    pub fn with_caller(self, caller: Option<(Arc<Process>, Option<ExecKey>)>) -> Entry {
        Entry { caller, ..self }
    }

    /// A forked child of `parent`, not yet exec'd.
    pub fn clone_of(parent_key: ExecKey, parent: Arc<Process>, identity: CloneIdentity) -> Entry {
        Entry {
            process: parent,
            unbuilt: Some(identity),
            parent: Some(parent_key),
            is_clone: true,
            children: 0,
            remove_after: None,
            caller: None,
        }
    }

    /// Builds an unbuilt clone's own `Process`.
    fn build(&mut self, key: ExecKey) {
        if let Some(id) = self.unbuilt.take() {
            self.process = Arc::new(Process {
                exec_id: id.exec_id,
                pid: Some(key.pid),
                tid: Some(key.pid),
                flags: "clone".into(),
                start_time: Some(id.start_time),
                parent_exec_id: self.process.exec_id.clone(),
                ..Process::clone(&self.process)
            });
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    pub evictions: u64,
    pub misses: u64,
}

pub struct ProcessCache {
    entries: LruCache<ExecKey, Entry>,
    /// The current image of each live tgid (hashed as the LRU hashes: this is
    /// on every event's path and needs no DoS-resistant hash).
    by_pid: HashMap<u32, ExecKey, lru::DefaultHasher>,
    /// Entries whose grace period is running, in deadline order.
    retiring: VecDeque<(Instant, ExecKey)>,
    grace: Duration,
    pub counters: CacheCounters,
}

impl ProcessCache {
    pub fn new(capacity: NonZeroUsize, grace: Duration) -> ProcessCache {
        ProcessCache {
            entries: LruCache::new(capacity),
            by_pid: HashMap::default(),
            retiring: VecDeque::new(),
            grace,
            counters: CacheCounters::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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

    /// The current image of `pid` and its `Process`.
    pub fn current_process(&mut self, pid: u32) -> Option<(ExecKey, Arc<Process>)> {
        let key = *self.by_pid.get(&pid)?;
        Some((key, self.process(key)?))
    }

    /// The `Process` of the image `key` names as its parent.
    pub fn parent_process(&mut self, key: ExecKey) -> Option<Arc<Process>> {
        let parent = self.entries.peek(&key)?.parent?;
        self.process(parent)
    }

    /// The `Process` of an image, building it first if it is an unbuilt clone.
    pub fn process(&mut self, key: ExecKey) -> Option<Arc<Process>> {
        let e = self.entries.get_mut(&key)?;
        e.build(key);
        Some(Arc::clone(&e.process))
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
            let Some(p) = self.entries.peek_mut(&pk) else {
                break;
            };
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
    pub fn ancestors(&mut self, key: ExecKey, max: usize) -> Vec<Arc<Process>> {
        let parent = self.entries.peek(&key).and_then(|e| e.parent);
        self.ancestors_above(parent, max)
    }

    /// The chain above `parent` (which events carry separately), nearest
    /// first, at most `max` long.
    pub fn ancestors_above(&mut self, parent: Option<ExecKey>, max: usize) -> Vec<Arc<Process>> {
        let mut out = Vec::new();
        let mut next = parent.and_then(|p| self.entries.peek(&p)).and_then(|e| e.parent);
        while let Some(k) = next {
            if out.len() >= max {
                break;
            }
            let Some(e) = self.entries.peek_mut(&k) else {
                break;
            };
            e.build(k);
            out.push(Arc::clone(&e.process));
            next = e.parent;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, binary: &str) -> Arc<Process> {
        Arc::new(Process { pid: Some(pid), binary: binary.into(), ..Default::default() })
    }

    fn cache(cap: usize) -> ProcessCache {
        ProcessCache::new(NonZeroUsize::new(cap).unwrap(), Duration::from_secs(10))
    }

    #[test]
    fn current_image_follows_exec() {
        let mut c = cache(8);
        let a = ExecKey { pid: 10, ktime: 1 };
        let b = ExecKey { pid: 10, ktime: 2 };
        c.insert(a, Entry::image(proc(10, "/bin/sh"), None));
        c.insert(b, Entry::image(proc(10, "/bin/ls"), Some(a)));
        assert_eq!(c.current(10).unwrap().0, b);
        assert_eq!(c.process(b).unwrap().binary, "/bin/ls");
        assert_eq!(c.process(a).unwrap().binary, "/bin/sh");
    }

    #[test]
    fn exited_entries_stay_for_the_grace_period_and_while_children_live() {
        let mut c = cache(8);
        let now = Instant::now();
        let parent = ExecKey { pid: 1, ktime: 1 };
        let child = ExecKey { pid: 2, ktime: 2 };
        c.insert(parent, Entry::image(proc(1, "/p"), None));
        c.insert(child, Entry::image(proc(2, "/c"), Some(parent)));
        c.retire(parent, now);
        c.sweep(now + Duration::from_secs(5));
        assert!(c.process(parent).is_some(), "within grace");
        c.sweep(now + Duration::from_secs(11));
        assert!(c.process(parent).is_some(), "held by a live child");
        c.retire(child, now);
        c.sweep(now + Duration::from_secs(11));
        assert!(c.process(child).is_none());
        assert!(c.process(parent).is_none(), "released with its last child");
        assert_eq!(c.len(), 0);
        assert_eq!(c.retiring(), 0);
    }

    #[test]
    fn capacity_bounds_memory_and_counts_live_evictions() {
        let mut c = cache(3);
        for pid in 0..5 {
            c.insert(ExecKey { pid, ktime: pid as u64 }, Entry::image(proc(pid, "/x"), None));
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.counters.evictions, 2);
        assert!(c.current(0).is_none() && c.current(1).is_none());
        assert!(c.current(4).is_some());
    }

    #[test]
    fn a_clone_is_built_from_its_parent_when_first_asked_for() {
        let mut c = cache(8);
        let parent = ExecKey { pid: 1, ktime: 1 };
        let child = ExecKey { pid: 2, ktime: 2 };
        let p = Arc::new(Process { exec_id: "p".into(), cwd: "/srv".into(), ..(*proc(1, "/bin/bash")).clone() });
        c.insert(parent, Entry::image(Arc::clone(&p), None));
        let identity = CloneIdentity { exec_id: "c".into(), start_time: Timestamp::UNIX_EPOCH };
        c.insert(child, Entry::clone_of(parent, p, identity));
        let built = c.process(child).unwrap();
        assert_eq!((built.exec_id.as_str(), built.parent_exec_id.as_str()), ("c", "p"));
        assert_eq!((built.pid, built.tid, built.flags.as_str()), (Some(2), Some(2), "clone"));
        assert_eq!((built.binary.as_str(), built.cwd.as_str()), ("/bin/bash", "/srv"));
        assert!(Arc::ptr_eq(&built, &c.process(child).unwrap()), "built once");
    }

    #[test]
    fn ancestors_skip_the_parent() {
        let mut c = cache(8);
        let keys: Vec<ExecKey> = (1..=4).map(|pid| ExecKey { pid, ktime: pid as u64 }).collect();
        for (i, &k) in keys.iter().enumerate() {
            let parent = i.checked_sub(1).map(|j| keys[j]);
            c.insert(k, Entry::image(proc(k.pid, &format!("/b{}", k.pid)), parent));
        }
        let chain: Vec<String> = c.ancestors(keys[3], 10).into_iter().map(|p| p.binary.clone()).collect();
        assert_eq!(chain, ["/b2", "/b1"]);
        assert_eq!(c.ancestors(keys[3], 1).len(), 1);
    }
}
