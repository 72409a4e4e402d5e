//! TracingPolicies in the agent: loaded from `--policy-dir` at start and
//! managed live (`scry policy add | list | delete | enable | disable`). One
//! thread owns the kernel engine (`scry_bpf::policy`): it applies commands
//! between ring drains and turns the engine's records into `process_kprobe`
//! events on the event bus.

pub mod compile;
mod scope;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine as _;
use scry_bpf::policy::UserTarget;
use scry_bpf::policy::{
    CredInfo, DataJoiner, MAX_HOOKS, PolicyRecord, PolicySource, RingRecord, Site, SockTuple, decode,
};
use scry_model::event::{
    Event, EventEnvelope, KprobeArgument, KprobeCapability, KprobePath, KprobeSkb, KprobeSock, KprobeSockaddr,
    KprobeTruncatedBytes, Process, ProcessCredentials, ProcessKprobe, ProcessTracepoint, ProcessUprobe,
};
use scry_model::socket_names as names;
use scry_model::status::{Fallback, PolicyHookInfo, PolicyInfo, SourceStatus};
use scry_policy::{IntType, Mode};

use self::compile::{CompiledHook, EngineHook, HostNamespaces, Shown};
use self::scope::WorkloadScope;

/// How often scoped policies' cgroups are brought up to date.
const SCOPE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
use crate::collector::{DecodedRing, count_maps, spawn_collector};
use crate::events::EventBus;
use crate::pipeline::{Lineage, Pipeline, monotonic_ns};

/// How long a record may wait for the process collector to know its process.
const WAIT_FOR_PROCESS_NS: u64 = 1_000_000_000;

/// Ring buffer size for policy records.
const RING_BYTES: u32 = 1 << 22;

enum Command {
    Add(String, Sender<Result<PolicyInfo, String>>),
    Delete(String, Sender<Result<(), String>>),
    SetEnabled(String, bool, Sender<Result<PolicyInfo, String>>),
    List(Sender<Vec<PolicyInfo>>),
}

/// The handle the API and start-up use; the engine lives on its thread.
#[derive(Clone)]
pub struct PolicyManager {
    tx: Sender<Command>,
    /// The engine's line in `scry status`: records, losses, ring, maps.
    source: Arc<Mutex<SourceStatus>>,
}

impl PolicyManager {
    /// Loads the engine on its own thread. Returns once it is loaded (or why not).
    pub fn start(
        pipeline: Arc<Pipeline>,
        bus: Arc<EventBus>,
        node_name: &str,
        stop: Arc<AtomicBool>,
    ) -> Result<(PolicyManager, JoinHandle<()>), String> {
        let (tx, rx) = channel();
        let node: Arc<str> = node_name.into();
        let source_status = Arc::new(Mutex::new(SourceStatus { name: "policy".into(), ..Default::default() }));
        let status = source_status.clone();
        let handle = spawn_collector("policy-engine", move |ready| {
            let cgroup_root = scry_bpf::net::cgroup2_mount().unwrap_or_else(|| "/sys/fs/cgroup".into());
            let source = match PolicySource::load(RING_BYTES, &cgroup_root) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                    return;
                }
            };
            let host_ns = HostNamespaces::of_this_process();
            let mut engine = Engine {
                source,
                cgroup_root,
                scopes_checked: std::time::Instant::now(),
                host_ns,
                policies: Vec::new(),
                next_id: 1,
                pipeline,
                bus,
                node,
            };
            let ring = match DecodedRing::new(engine.source.ring(), "policy", decode) {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            {
                let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
                let k = engine.source.kernel();
                // The kinds hooks can use here; `scry policy list` names each hook's.
                let mut kinds = vec!["tracepoint", "tp_btf", "raw_tp", "cgroup", "uprobe"];
                kinds.extend(k.fentry.is_ok().then_some("fentry, fexit, fmod_ret"));
                kinds.extend(k.kprobes.is_ok().then_some("kprobe"));
                kinds.extend(k.lsm.is_ok().then_some("lsm"));
                s.hook = kinds.join(", ");
                s.fallbacks = [("fentry", &k.fentry), ("kprobe", &k.kprobes), ("lsm", &k.lsm)]
                    .into_iter()
                    .filter_map(|(kind, r)| {
                        r.as_ref().err().map(|why| {
                            let instead = if kind != "lsm" && (k.kprobes.is_ok() || k.fentry.is_ok()) {
                                "kernel functions run through the other of fentry and kprobes"
                            } else {
                                "well-known functions run through equivalent hooks"
                            };
                            Fallback { kind: kind.into(), reason: format!("{why}; {instead}") }
                        })
                    })
                    .collect();
                // Where trampolines run but syscalls are not modifiable.
                if let (Ok(()), Err(why)) = (&k.fentry, &k.syscall_override) {
                    s.fallbacks.push(Fallback {
                        kind: "fmod_ret on syscalls".into(),
                        reason: format!(
                            "{why}; Override on syscall hooks is refused, security_* functions still take it"
                        ),
                    });
                }
            }
            let _ = ready.send(Ok(()));
            engine.run(&ring, &rx, &stop, &status);
        })?;
        Ok((PolicyManager { tx, source: source_status }, handle))
    }

    /// The engine's line in `scry status`.
    pub fn source(&self) -> SourceStatus {
        self.source.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = channel();
        self.tx.send(make(reply)).ok()?;
        answer.recv().ok()
    }

    const GONE: &'static str = "the policy engine has stopped";

    /// Parses, validates and compiles `yaml`, then installs it whole.
    pub fn add(&self, yaml: String) -> Result<PolicyInfo, String> {
        self.ask(|r| Command::Add(yaml, r)).unwrap_or_else(|| Err(Self::GONE.into()))
    }

    pub fn delete(&self, name: String) -> Result<(), String> {
        self.ask(|r| Command::Delete(name, r)).unwrap_or_else(|| Err(Self::GONE.into()))
    }

    pub fn set_enabled(&self, name: String, enabled: bool) -> Result<PolicyInfo, String> {
        self.ask(|r| Command::SetEnabled(name, enabled, r)).unwrap_or_else(|| Err(Self::GONE.into()))
    }

    pub fn list(&self) -> Vec<PolicyInfo> {
        self.ask(Command::List).unwrap_or_default()
    }

    /// Adds every `*.yaml` / `*.yml` file of `dir`, in name order; each
    /// rejected file is one line naming it and why (the others still load).
    pub fn load_dir(&self, dir: &Path) -> Vec<String> {
        let mut files: Vec<_> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect(),
            Err(e) => return vec![format!("--policy-dir {}: {e}", dir.display())],
        };
        files.sort();
        let mut rejected = Vec::new();
        for file in files {
            let result = std::fs::read_to_string(&file).map_err(|e| e.to_string()).and_then(|yaml| self.add(yaml));
            match result {
                Ok(p) => tracing::info!("policy {} loaded from {}", p.name, file.display()),
                Err(e) => rejected.push(format!("policy file {} rejected: {e}", file.display())),
            }
        }
        rejected
    }
}

struct LoadedPolicy {
    id: u32,
    name: String,
    mode: Mode,
    enabled: bool,
    /// Each hook with its engine slot.
    hooks: Vec<(u32, CompiledHook)>,
    /// Where it runs, when scoped to workloads.
    scope: Option<WorkloadScope>,
    events: u64,
    signals: u64,
}

impl LoadedPolicy {
    fn info(&self, source: &PolicySource) -> PolicyInfo {
        PolicyInfo {
            name: self.name.clone(),
            state: if self.enabled { "enabled" } else { "disabled" }.into(),
            mode: match self.mode {
                Mode::Enforce => "enforce",
                Mode::Monitor => "monitor",
            }
            .into(),
            hooks: self
                .hooks
                .iter()
                .map(|(_, h)| PolicyHookInfo {
                    path: h.path.clone(),
                    hook: h.asked.clone(),
                    attachment: h.attachment.clone(),
                })
                .collect(),
            events: self.events,
            signals: self.signals,
            rate_limited: self.hooks.iter().map(|(slot, _)| source.rate_limited(*slot)).sum(),
        }
    }
}

struct Engine {
    source: PolicySource,
    /// The cgroup v2 mount, walked for scoped policies' cgroups.
    cgroup_root: std::path::PathBuf,
    /// When scoped policies' cgroups were last brought up to date.
    scopes_checked: std::time::Instant,
    host_ns: HostNamespaces,
    policies: Vec<LoadedPolicy>,
    next_id: u32,
    pipeline: Arc<Pipeline>,
    bus: Arc<EventBus>,
    node: Arc<str>,
}

impl Engine {
    fn run(
        &mut self,
        ring: &DecodedRing<'_, RingRecord>,
        rx: &Receiver<Command>,
        stop: &AtomicBool,
        status: &Mutex<SourceStatus>,
    ) {
        // Records wait until the process collector has handled everything
        // up to them, so a process that exec'd just before has its binary.
        let mut pending: Vec<PolicyRecord> = Vec::new();
        let mut joiner = DataJoiner::default();
        let (mut events, mut maps_counted) = (0u64, None);
        while !stop.load(Ordering::Relaxed) {
            for cmd in rx.try_iter() {
                self.handle(cmd);
            }
            let drained = ring.drain();
            events += drained.len() as u64;
            pending.extend(drained.into_iter().filter_map(|r| joiner.push(r)));
            {
                let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
                s.events = events;
                s.kernel_lost = self.source.counters().lost;
                // Data records no event took count as records that did not decode.
                s.decode_errors = ring.decode_errors() + joiner.orphaned;
                ring.fill().write(&mut s);
                if let Some(maps) = count_maps(&mut maps_counted, &self.source.maps()) {
                    s.maps = maps;
                }
            }
            let (drained, now) = (self.pipeline.drained_until(), monotonic_ns());
            let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut pending)
                .into_iter()
                .partition(|r| r.ktime <= drained || now.saturating_sub(r.ktime) > WAIT_FOR_PROCESS_NS);
            pending = wait;
            for r in ready {
                self.publish(&r);
            }
            if self.scopes_checked.elapsed() >= SCOPE_EVERY {
                self.update_scopes();
            }
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Add(yaml, reply) => {
                let _ = reply.send(self.add(&yaml));
            }
            Command::Delete(name, reply) => {
                let _ = reply.send(self.delete(&name));
            }
            Command::SetEnabled(name, enabled, reply) => {
                let _ = reply.send(self.set_enabled(&name, enabled));
            }
            Command::List(reply) => {
                let _ = reply.send(self.policies.iter().map(|p| p.info(&self.source)).collect());
            }
        }
    }

    fn add(&mut self, yaml: &str) -> Result<PolicyInfo, String> {
        let policy = scry_policy::parse(yaml).map_err(|e| e.to_string())?;
        if self.policies.iter().any(|p| p.name == policy.name) {
            return Err(format!("metadata.name: a policy named {:?} is loaded; delete it first", policy.name));
        }
        let id = self.next_id;
        let hooks = compile::compile(&policy, id, self.source.kernel(), &self.host_ns, &scry_bpf::tracefs::format)
            .map_err(|e| e.to_string())?;
        // A scoped policy's hooks run in no cgroup until the first update.
        let scope = WorkloadScope::of(&policy);
        if scope.is_some() {
            self.source.scope_policy(id);
        }
        let used: Vec<u32> = self.policies.iter().flat_map(|p| p.hooks.iter().map(|(s, _)| *s)).collect();
        let mut free_site = (0..MAX_HOOKS).filter(|s| !used.contains(s));
        let mut installed: Vec<(u32, CompiledHook)> = Vec::with_capacity(hooks.len());
        for hook in hooks {
            let done = match &hook.hook {
                EngineHook::Site(h) => free_site
                    .next()
                    .ok_or(format!("the engine's {MAX_HOOKS} hook slots are taken; delete a policy first"))
                    .and_then(|slot| self.source.install(slot, h).map(|()| slot).map_err(|e| e.to_string())),
                EngineHook::Kprobe { function, at_return, hook } => free_site
                    .next()
                    .ok_or(format!("the engine's {MAX_HOOKS} hook slots are taken; delete a policy first"))
                    .and_then(|slot| {
                        let site = if *at_return {
                            self.source.kretprobe_site(function)
                        } else {
                            self.source.kprobe_site(function)
                        };
                        let site = site.map_err(|e| e.to_string())?;
                        let hook = scry_bpf::policy::Hook { sites: vec![site], ..hook.clone() };
                        self.source.install(slot, &hook).map(|()| slot).map_err(|e| e.to_string())
                    }),
                EngineHook::Tracepoint { subsystem, event, fields, hook } => free_site
                    .next()
                    .ok_or(format!("the engine's {MAX_HOOKS} hook slots are taken; delete a policy first"))
                    .and_then(|slot| {
                        let site = self.source.tracepoint_site(subsystem, event, fields).map_err(|e| e.to_string())?;
                        let hook = scry_bpf::policy::Hook { sites: vec![site], ..hook.clone() };
                        self.source.install(slot, &hook).map(|()| slot).map_err(|e| e.to_string())
                    }),
                EngineHook::RawTracepoint { event, hook, .. } => free_site
                    .next()
                    .ok_or(format!("the engine's {MAX_HOOKS} hook slots are taken; delete a policy first"))
                    .and_then(|slot| {
                        let site = self.source.raw_tracepoint_site(event).map_err(|e| e.to_string())?;
                        let hook = scry_bpf::policy::Hook { sites: vec![site], ..hook.clone() };
                        self.source.install(slot, &hook).map(|()| slot).map_err(|e| e.to_string())
                    }),
                EngineHook::Uprobe { functions, hook } => free_site
                    .next()
                    .ok_or(format!("the engine's {MAX_HOOKS} hook slots are taken; delete a policy first"))
                    .and_then(|slot| {
                        let sites = functions
                            .iter()
                            .map(|f| self.source.uprobe_site(f))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| e.to_string())?;
                        let hook = scry_bpf::policy::Hook { sites, ..hook.clone() };
                        self.source.install(slot, &hook).map(|()| slot).map_err(|e| e.to_string())?;
                        Ok(slot)
                    }),
            };
            match done {
                Ok(slot) => installed.push((slot, hook)),
                Err(e) => {
                    // Whole or nothing.
                    for (slot, _) in &installed {
                        let _ = self.source.remove(*slot);
                    }
                    self.source.forget_scope(id);
                    return Err(format!("{}: {e}", hook.path));
                }
            }
        }
        self.next_id += 1;
        let loaded = LoadedPolicy {
            id,
            name: policy.name,
            mode: policy.mode,
            enabled: true,
            hooks: installed,
            scope,
            events: 0,
            signals: 0,
        };
        let info = loaded.info(&self.source);
        let scoped = loaded.scope.is_some();
        self.policies.push(loaded);
        if scoped {
            self.update_scopes();
        }
        Ok(info)
    }

    /// Brings each scoped policy's cgroups up to date: the container cgroups
    /// of the pods its scope admits, as attribution knows them now. A new
    /// pod's processes are in scope from the first update after its cgroup
    /// and its pod are both known (within [`SCOPE_EVERY`]).
    fn update_scopes(&mut self) {
        self.scopes_checked = std::time::Instant::now();
        if self.policies.iter().all(|p| p.scope.is_none()) {
            return;
        }
        let cgroups: Vec<(u64, Option<Arc<scry_model::event::Pod>>)> =
            scope::cgroups(&self.cgroup_root).into_iter().map(|c| (c.id, self.pipeline.pod_of_cgroup(&c))).collect();
        for p in &self.policies {
            let Some(scope) = &p.scope else { continue };
            let ids = cgroups.iter().filter(|(_, pod)| scope.admits(pod.as_deref())).map(|(id, _)| *id).collect();
            if let Err(e) = self.source.update_scope(p.id, &ids) {
                tracing::warn!("policy {}: its workloads' cgroups could not all be scoped: {e}", p.name);
            }
        }
    }

    fn find(&mut self, name: &str) -> Result<usize, String> {
        self.policies.iter().position(|p| p.name == name).ok_or_else(|| format!("no policy named {name:?} is loaded"))
    }

    fn delete(&mut self, name: &str) -> Result<(), String> {
        let at = self.find(name)?;
        let policy = self.policies.remove(at);
        for (slot, hook) in &policy.hooks {
            self.source.remove(*slot).map_err(|e| format!("{}: {e}", hook.path))?;
        }
        self.source.forget_scope(policy.id);
        Ok(())
    }

    fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<PolicyInfo, String> {
        let at = self.find(name)?;
        for (slot, hook) in &self.policies[at].hooks {
            self.source.set_enabled(*slot, enabled).map_err(|e| format!("{}: {e}", hook.path))?;
        }
        self.policies[at].enabled = enabled;
        Ok(self.policies[at].info(&self.source))
    }

    fn publish(&mut self, r: &PolicyRecord) {
        let Some(policy) = self.policies.iter_mut().find(|p| p.id == r.policy_id) else { return };
        let Some((_, hook)) = policy.hooks.iter().find(|(s, _)| *s == r.hook) else { return };
        // At exec the hook ran for the caller, as security_bprm_check does.
        let lineage = if hook.at_exec && r.site == Site::Exec {
            self.pipeline.exec_caller(r.pid, r.ktime)
        } else {
            self.pipeline.lineage(r.pid)
        };
        let Lineage { process, parent, ancestors } = lineage.unwrap_or_else(|| Lineage {
            process: Arc::new(Process { pid: Some(r.pid), tid: Some(r.tid), ..Process::default() }),
            parent: None,
            ancestors: Vec::new(),
        });
        // Monitor mode sends no signal but names the action, as Tetragon does.
        let intended = r.signal.map(|(sig, _)| sig).or(hook.signals.get(r.selector as usize).copied().flatten());
        let action = match intended {
            Some(9) => "KPROBE_ACTION_SIGKILL",
            Some(_) => "KPROBE_ACTION_SIGNAL",
            None if r.overridden => "KPROBE_ACTION_OVERRIDE",
            None => "KPROBE_ACTION_POST",
        };
        let (args, return_value) = arguments(hook, r);
        let event = ProcessKprobe {
            process,
            parent,
            function_name: hook.function.clone(),
            args,
            return_value,
            action: action.into(),
            policy_name: policy.name.clone(),
            message: hook.message.clone().unwrap_or_default(),
            tags: hook.tags.clone(),
            ancestors,
        };
        policy.events += u64::from(r.post);
        policy.signals += u64::from(r.signal.is_some());
        if !r.post {
            return;
        }
        let time = chrono::DateTime::from_timestamp_nanos(self.pipeline.wall_ns(r.ktime));
        let event = match &hook.hook {
            EngineHook::Uprobe { functions, .. } => {
                // The hooked function is the one whose site the record names.
                let at = self.source.uprobe_of(r.site);
                let function = at.as_ref().or(functions.first());
                let (symbol, offset) = match function.map(|f| &f.target) {
                    Some(UserTarget::Symbol(s)) => (s.clone(), 0),
                    Some(UserTarget::Offset(o)) => (String::new(), *o),
                    None => (String::new(), 0),
                };
                Event::ProcessUprobe(ProcessUprobe {
                    process: event.process,
                    parent: event.parent,
                    path: function.map(|f| f.path.clone()).unwrap_or_default(),
                    symbol,
                    offset,
                    policy_name: event.policy_name,
                    message: event.message,
                    args: event.args,
                    tags: event.tags,
                    ancestors: event.ancestors,
                    action: event.action,
                })
            }
            EngineHook::Tracepoint { subsystem, event: name, .. }
            | EngineHook::RawTracepoint { subsystem, event: name, .. } => Event::ProcessTracepoint(ProcessTracepoint {
                process: event.process,
                parent: event.parent,
                subsys: subsystem.clone(),
                event: name.clone(),
                args: event.args,
                policy_name: event.policy_name,
                action: event.action,
                message: event.message,
                tags: event.tags,
                ancestors: event.ancestors,
            }),
            _ if hook.lsm => Event::ProcessLsm(event),
            _ => Event::ProcessKprobe(event),
        };
        self.bus.publish(EventEnvelope { event, node_name: self.node.clone(), time });
    }
}

/// A site hook's arguments as the policy declared them (strings and paths
/// in the record's order), and its return value when probed.
fn arguments(hook: &CompiledHook, r: &PolicyRecord) -> (Vec<KprobeArgument>, Option<Box<KprobeArgument>>) {
    let mut strings = r.strings.iter();
    let mut sockets = r.sockets.iter();
    let args = hook
        .args
        .iter()
        .enumerate()
        .map(|(i, (shown, label))| {
            let label = label.clone().unwrap_or_default();
            let mut text =
                || strings.next().map(|s| String::from_utf8_lossy(&s.bytes).into_owned()).unwrap_or_default();
            let path = |text: String| Some(KprobePath { path: text, ..Default::default() });
            match shown {
                Shown::Int(ty) => integer(r.args[i], *ty, label),
                Shown::String => KprobeArgument { string_arg: Some(text()), label, ..Default::default() },
                Shown::File => KprobeArgument { file_arg: path(text()), label, ..Default::default() },
                Shown::Path => KprobeArgument { path_arg: path(text()), label, ..Default::default() },
                Shown::Binprm => KprobeArgument { linux_binprm_arg: path(text()), label, ..Default::default() },
                Shown::Sock => KprobeArgument { sock_arg: sockets.next().map(sock_arg), label, ..Default::default() },
                Shown::SockAddr => {
                    KprobeArgument { sockaddr_arg: sockets.next().map(sockaddr_arg), label, ..Default::default() }
                }
                Shown::Skb => KprobeArgument { skb_arg: sockets.next().map(skb_arg), label, ..Default::default() },
                Shown::Bytes => {
                    let s = strings.next();
                    let kept =
                        s.map(|s| base64::engine::general_purpose::STANDARD.encode(&s.bytes)).unwrap_or_default();
                    if s.is_some_and(|s| s.truncated) {
                        let truncated = KprobeTruncatedBytes { bytes_arg: kept, orig_size: r.args[i] };
                        KprobeArgument { truncated_bytes_arg: Some(truncated), label, ..Default::default() }
                    } else {
                        KprobeArgument { bytes_arg: Some(kept), label, ..Default::default() }
                    }
                }
                Shown::Cred => KprobeArgument {
                    process_credentials_arg: r.cred.as_ref().map(credentials),
                    label,
                    ..Default::default()
                },
                Shown::KernelCap => KprobeArgument {
                    kernel_cap_t_arg: Some(format!("{:#018x}", r.args[i])),
                    label,
                    ..Default::default()
                },
                Shown::Capability => KprobeArgument {
                    capability_arg: Some(KprobeCapability {
                        value: r.args[i] as i32,
                        name: scry_model::caps::NAMES
                            .get(r.args[i] as usize)
                            .map(|n| (*n).to_owned())
                            .unwrap_or_default(),
                    }),
                    label,
                    ..Default::default()
                },
            }
        })
        .collect();
    let ret =
        hook.ret.as_ref().map(|(ty, label)| Box::new(integer(r.ret as u64, *ty, label.clone().unwrap_or_default())));
    (args, ret)
}

/// Tetragon's `sock_arg`: names for the numbers, addresses as text.
fn sock_arg(t: &SockTuple) -> KprobeSock {
    KprobeSock {
        family: names::name(names::FAMILIES, t.family),
        sock_type: names::name(names::SOCK_TYPES, t.sock_type),
        protocol: names::protocol(t.protocol),
        saddr: t.source.map(|a| a.ip().to_string()).unwrap_or_default(),
        daddr: t.destination.map(|a| a.ip().to_string()).unwrap_or_default(),
        sport: t.source.map_or(0, |a| u32::from(a.port())),
        dport: t.destination.map_or(0, |a| u32::from(a.port())),
        state: names::name(names::TCP_STATES, t.state),
    }
}

/// Tetragon's `skb_arg`: the packet's protocol and ends; a source the
/// kernel had not chosen yet (unbound) is left out.
fn skb_arg(t: &SockTuple) -> KprobeSkb {
    let source = t.source.filter(|a| !a.ip().is_unspecified());
    KprobeSkb {
        saddr: source.map(|a| a.ip().to_string()).unwrap_or_default(),
        daddr: t.destination.map(|a| a.ip().to_string()).unwrap_or_default(),
        sport: t.source.map_or(0, |a| u32::from(a.port())),
        dport: t.destination.map_or(0, |a| u32::from(a.port())),
        proto: u32::from(t.protocol),
        protocol: names::protocol(t.protocol),
        family: names::name(names::FAMILIES, t.family),
    }
}

/// Tetragon's `process_credentials_arg`.
fn credentials(c: &CredInfo) -> ProcessCredentials {
    ProcessCredentials {
        securebits: ProcessCredentials::securebit_names(c.securebits),
        caps: Some(crate::pipeline::capabilities(&c.caps)),
        ..crate::pipeline::credentials(&c.ids)
    }
}

/// Tetragon's `sockaddr_arg`: an address's family, address and port.
fn sockaddr_arg(t: &SockTuple) -> KprobeSockaddr {
    KprobeSockaddr {
        family: names::name(names::FAMILIES, t.family),
        addr: t.source.map(|a| a.ip().to_string()).unwrap_or_default(),
        port: t.source.map_or(0, |a| u32::from(a.port())),
    }
}

/// A raw register value as the integer type the policy declared.
fn integer(raw: u64, ty: IntType, label: String) -> KprobeArgument {
    match ty {
        IntType::S8 | IntType::S16 | IntType::S32 => {
            KprobeArgument { int_arg: Some(raw as i32), label, ..Default::default() }
        }
        IntType::U8 | IntType::U16 | IntType::U32 => {
            KprobeArgument { uint_arg: Some(raw as u32), label, ..Default::default() }
        }
        IntType::S64 => KprobeArgument { long_arg: Some((raw as i64).to_string()), label, ..Default::default() },
        IntType::U64 | IntType::SizeT => {
            KprobeArgument { size_arg: Some(raw.to_string()), label, ..Default::default() }
        }
    }
}
