//! Events in Tetragon's JSON shape.
//!
//! Encoding rules follow protojson as Tetragon emits it: snake_case names, zero
//! scalars and empty lists omitted, `*Value` wrappers (pid, uid, auid, tid)
//! present even when 0, 64-bit integers as strings, timestamps RFC 3339 in UTC.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::caps::CapSet;

pub type Timestamp = DateTime<Utc>;

/// One line of the event stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    #[serde(flatten)]
    pub event: Event,
    #[serde(default)]
    pub node_name: Arc<str>,
    pub time: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    ProcessExec(ProcessExec),
    ProcessExit(ProcessExit),
    /// A TracingPolicy hook's selector matched (syscall hooks included, as
    /// Tetragon reports them).
    ProcessKprobe(ProcessKprobe),
    /// A TracingPolicy LSM hook's selector matched: the same fields as a
    /// kprobe's (`function_name` is the hook, e.g. `file_open`).
    ProcessLsm(ProcessKprobe),
    /// A TracingPolicy uprobe's selector matched.
    ProcessUprobe(ProcessUprobe),
    /// A TracingPolicy tracepoint's selector matched.
    ProcessTracepoint(ProcessTracepoint),
    /// Scry's notice that events were lost between the kernel and this stream.
    LostEvents(LostEvents),
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::ProcessExec(_) => EventType::ProcessExec,
            Event::ProcessExit(_) => EventType::ProcessExit,
            Event::ProcessKprobe(_) => EventType::ProcessKprobe,
            Event::ProcessLsm(_) => EventType::ProcessLsm,
            Event::ProcessUprobe(_) => EventType::ProcessUprobe,
            Event::ProcessTracepoint(_) => EventType::ProcessTracepoint,
            Event::LostEvents(_) => EventType::LostEvents,
        }
    }

    /// The process the event is about, if any.
    pub fn process(&self) -> Option<&Process> {
        match self {
            Event::ProcessExec(e) => Some(&e.process),
            Event::ProcessExit(e) => Some(&e.process),
            Event::ProcessKprobe(e) | Event::ProcessLsm(e) => Some(&e.process),
            Event::ProcessUprobe(e) => Some(&e.process),
            Event::ProcessTracepoint(e) => Some(&e.process),
            Event::LostEvents(_) => None,
        }
    }
}

/// Event types, named as Tetragon's `EventType` enum names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    ProcessExec,
    ProcessExit,
    ProcessKprobe,
    ProcessLsm,
    ProcessUprobe,
    ProcessTracepoint,
    LostEvents,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::ProcessExec,
        EventType::ProcessExit,
        EventType::ProcessKprobe,
        EventType::ProcessLsm,
        EventType::ProcessUprobe,
        EventType::ProcessTracepoint,
        EventType::LostEvents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::ProcessExec => "PROCESS_EXEC",
            EventType::ProcessExit => "PROCESS_EXIT",
            EventType::ProcessKprobe => "PROCESS_KPROBE",
            EventType::ProcessLsm => "PROCESS_LSM",
            EventType::ProcessUprobe => "PROCESS_UPROBE",
            EventType::ProcessTracepoint => "PROCESS_TRACEPOINT",
            EventType::LostEvents => "LOST_EVENTS",
        }
    }

    /// Accepts `PROCESS_EXEC`, `process_exec` and `process-exec`.
    pub fn parse(s: &str) -> Option<EventType> {
        let norm = s.trim().to_ascii_uppercase().replace('-', "_");
        EventType::ALL.into_iter().find(|t| t.name() == norm)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// protojson renders 64-bit integers as strings.
pub(crate) mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Str(String),
            Num(u64),
        }
        match Repr::deserialize(d)? {
            Repr::Str(s) => s.parse().map_err(D::Error::custom),
            Repr::Num(n) => Ok(n),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Process {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub exec_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cwd: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub binary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub arguments: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub flags: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<Arc<Pod>>,
    /// Container id (first 31 hex characters, as Tetragon prints it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub docker: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent_exec_id: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub refcnt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<Capabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ns: Option<Namespaces>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_credentials: Option<ProcessCredentials>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_properties: Option<BinaryProperties>,
    /// Scry: where a process outside Kubernetes runs (systemd unit, cgroup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostAttribution>,
}

impl Process {
    /// argv[1..] as one string, the way Tetragon joins it: arguments with a
    /// space are double-quoted.
    pub fn join_arguments(argv: &[String]) -> String {
        argv.iter().map(|a| if a.contains(' ') { format!("\"{a}\"") } else { a.clone() }).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pod {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub workload: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub workload_kind: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    /// `<runtime>://<64 hex>`, as Kubernetes reports it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "is_false")]
    pub maybe_exec_probe: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostAttribution {
    /// The systemd unit (`ssh.service`, `session-3.scope`), when there is one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub unit: String,
    /// The cgroup v2 path (or v1 memory-controller path) of the process.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cgroup: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Capabilities {
    #[serde(skip_serializing_if = "CapSet::is_empty")]
    pub permitted: CapSet,
    #[serde(skip_serializing_if = "CapSet::is_empty")]
    pub effective: CapSet,
    #[serde(skip_serializing_if = "CapSet::is_empty")]
    pub inheritable: CapSet,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Namespace {
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub inum: u32,
    #[serde(skip_serializing_if = "is_false")]
    pub is_host: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Namespaces {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mnt: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_for_children: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_for_children: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<Namespace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Namespace>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessCredentials {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub euid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sgid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsuid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsgid: Option<u32>,
    /// `SecBitNoRoot`, `SecBitKeepCaps` … (cred arguments).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub securebits: Vec<String>,
    /// The capability sets (cred arguments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caps: Option<Capabilities>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BinaryProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setuid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setgid: Option<u32>,
    /// `PRIVILEGES_RAISED_EXEC_FILE_SETUID`, `PRIVILEGES_RAISED_EXEC_FILE_SETGID`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub privileges_changed: Vec<String>,
    /// Set for a binary with no link left (deleted, or a memfd).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileProperties>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode: Option<InodeProperties>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InodeProperties {
    #[serde(with = "u64_string")]
    pub number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessExec {
    pub process: Arc<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Arc<Process>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<Arc<Process>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessExit {
    pub process: Arc<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Arc<Process>>,
    /// Name of the terminating signal (`SIGKILL`), when a signal ended it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signal: String,
    /// Exit code; omitted when 0.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub status: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<Arc<Process>>,
}

/// Tetragon's `ProcessUprobe`: a policy's uprobe on a user function matched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessUprobe {
    pub process: Arc<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Arc<Process>>,
    /// The binary or library the function is in.
    pub path: String,
    /// The function's symbol (empty when hooked by offset).
    pub symbol: String,
    /// The offset hooked, when not by symbol.
    #[serde(with = "u64_string", skip_serializing_if = "is_zero_u64")]
    pub offset: u64,
    pub policy_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<KprobeArgument>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<Arc<Process>>,
    /// `KPROBE_ACTION_POST`, `KPROBE_ACTION_SIGKILL`, `KPROBE_ACTION_SIGNAL`.
    pub action: String,
}

/// Tetragon's `ProcessTracepoint`: a policy's tracepoint hook matched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessTracepoint {
    pub process: Arc<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Arc<Process>>,
    pub subsys: String,
    pub event: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<KprobeArgument>,
    pub policy_name: String,
    /// `KPROBE_ACTION_POST`, `KPROBE_ACTION_SIGKILL`, `KPROBE_ACTION_SIGNAL`.
    pub action: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<Arc<Process>>,
}

/// Tetragon's `ProcessKprobe`: a policy hook's selector matched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessKprobe {
    pub process: Arc<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Arc<Process>>,
    /// `__x64_sys_umask` for a syscall hook, as Tetragon names it.
    pub function_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<KprobeArgument>,
    /// The return value, when the hook probes the return.
    #[serde(rename = "return", skip_serializing_if = "Option::is_none")]
    pub return_value: Option<Box<KprobeArgument>>,
    /// `KPROBE_ACTION_POST`, `KPROBE_ACTION_SIGKILL`, `KPROBE_ACTION_SIGNAL`.
    pub action: String,
    pub policy_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The parent's ancestors, nearest first (when the agent tracks them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<Arc<Process>>,
}

/// One captured argument: Tetragon's oneof, a single key set (64-bit
/// values as strings, as protojson writes them), and its label.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KprobeArgument {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub int_arg: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uint_arg: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_arg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_arg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_arg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_arg: Option<KprobePath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_arg: Option<KprobePath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_binprm_arg: Option<KprobePath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sock_arg: Option<KprobeSock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockaddr_arg: Option<KprobeSockaddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skb_arg: Option<KprobeSkb>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_credentials_arg: Option<ProcessCredentials>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capability_arg: Option<KprobeCapability>,
    /// A capability set as hex (`0x000001ffffffffff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_cap_t_arg: Option<String>,
    /// Bytes, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_arg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated_bytes_arg: Option<KprobeTruncatedBytes>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
}

impl KprobeArgument {
    /// The path or string this argument carries, if it is one.
    pub fn text(&self) -> Option<&str> {
        let path = self.file_arg.as_ref().or(self.path_arg.as_ref()).or(self.linux_binprm_arg.as_ref());
        path.map(|p| p.path.as_str()).or(self.string_arg.as_deref())
    }

    /// An integer argument as text.
    pub fn number(&self) -> Option<String> {
        (self.int_arg.map(|v| v.to_string()))
            .or(self.uint_arg.map(|v| v.to_string()))
            .or(self.long_arg.clone())
            .or(self.size_arg.clone())
    }
}

/// Tetragon's `KprobePath` / `KprobeFile` / `KprobeLinuxBinprm`: a file by
/// its full path (fields the hook did not see are left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KprobePath {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mount: String,
    pub path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub flags: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub permission: String,
}

/// Tetragon's `KprobeSock`: what a socket is and where it goes (fields the
/// hook did not see are left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KprobeSock {
    /// `AF_INET`, `AF_INET6`
    pub family: String,
    /// `SOCK_STREAM`
    #[serde(rename = "type")]
    pub sock_type: String,
    /// `IPPROTO_TCP`
    pub protocol: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub saddr: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub daddr: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub sport: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub dport: u32,
    /// `TCP_SYN_SENT`
    #[serde(skip_serializing_if = "String::is_empty")]
    pub state: String,
}

/// Tetragon's `KprobeSkb`: a packet's protocol and ends (fields the hook
/// did not see are left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KprobeSkb {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub saddr: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub daddr: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub sport: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub dport: u32,
    /// The IP protocol's number (6).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub proto: u32,
    /// `IPPROTO_TCP`
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// `AF_INET`
    #[serde(skip_serializing_if = "String::is_empty")]
    pub family: String,
}

impl ProcessCredentials {
    /// Tetragon's names of the securebits set in `bits`.
    pub fn securebit_names(bits: u32) -> Vec<String> {
        const NAMES: [&str; 8] = [
            "SecBitNoRoot",
            "SecBitNoRootLocked",
            "SecBitNoSetUidFixup",
            "SecBitNoSetUidFixupLocked",
            "SecBitKeepCaps",
            "SecBitKeepCapsLocked",
            "SecBitNoCapAmbientRaise",
            "SecBitNoCapAmbientRaiseLocked",
        ];
        NAMES.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, n)| (*n).to_owned()).collect()
    }
}

/// Tetragon's `KprobeTruncatedBytes`: the first bytes kept of a longer buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KprobeTruncatedBytes {
    /// Base64.
    pub bytes_arg: String,
    #[serde(with = "u64_string")]
    pub orig_size: u64,
}

/// Tetragon's `KprobeCapability`: a capability by number and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KprobeCapability {
    pub value: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Tetragon's `KprobeSockaddr`: an address a call was given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KprobeSockaddr {
    /// `AF_INET`, `AF_INET6`
    pub family: String,
    pub addr: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub port: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LostEvents {
    #[serde(with = "u64_string")]
    pub count: u64,
    /// Where they were lost: `ring_buffer` (kernel) or `stream_queue` (this client's queue).
    pub source: String,
}

/// Signal names for exit events.
pub fn signal_name(sig: u32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(sig as usize) {
        Some(n) if !n.is_empty() => (*n).to_owned(),
        _ => format!("SIG{sig}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time() -> Timestamp {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00.123456789Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn exit_serializes_like_tetragon() {
        let ev = EventEnvelope {
            event: Event::ProcessExit(ProcessExit {
                process: Arc::new(Process {
                    exec_id: "bjE6MTIzOjQ1".into(),
                    pid: Some(45),
                    uid: Some(0),
                    binary: "/usr/bin/curl".into(),
                    arguments: "https://x".into(),
                    auid: Some(u32::MAX),
                    ..Default::default()
                }),
                signal: "SIGKILL".into(),
                status: 0,
                time: Some(time()),
                ..Default::default()
            }),
            node_name: "n1".into(),
            time: time(),
        };
        let json = serde_json::to_string(&ev).unwrap();
        assert_eq!(
            json,
            r#"{"process_exit":{"process":{"exec_id":"bjE6MTIzOjQ1","pid":45,"uid":0,"binary":"/usr/bin/curl","arguments":"https://x","auid":4294967295},"signal":"SIGKILL","time":"2026-11-21T10:00:00.123456789Z"},"node_name":"n1","time":"2026-11-21T10:00:00.123456789Z"}"#
        );
        let back: EventEnvelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn sixty_four_bit_integers_are_strings() {
        let lost = Event::LostEvents(LostEvents { count: 7, source: "ring_buffer".into() });
        assert_eq!(serde_json::to_string(&lost).unwrap(), r#"{"lost_events":{"count":"7","source":"ring_buffer"}}"#);
    }

    #[test]
    fn arguments_with_spaces_are_quoted() {
        let argv = ["-c".to_owned(), "exit 3".to_owned()];
        assert_eq!(Process::join_arguments(&argv), r#"-c "exit 3""#);
    }

    #[test]
    fn event_type_names() {
        assert_eq!(EventType::parse("process_exec"), Some(EventType::ProcessExec));
        assert_eq!(EventType::parse("PROCESS-EXIT"), Some(EventType::ProcessExit));
        assert_eq!(EventType::parse("kprobe"), None);
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(40), "SIG40");
    }
}
