//! Linux capability sets, printed with Tetragon's names (`CAP_SYS_ADMIN`).

use std::borrow::Cow;

use serde::de::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `CAP_*` by number (include/uapi/linux/capability.h, up to CAP_LAST_CAP).
pub const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability set, kept as the kernel's bit mask and written as Tetragon
/// writes it: a list of names, lowest bit first. Bits past the last known
/// capability are named `CAP_<bit>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Names of the set's capabilities, lowest bit first.
    pub fn names(self) -> impl Iterator<Item = Cow<'static, str>> {
        (0..64u32).filter(move |bit| self.0 & (1u64 << bit) != 0).map(|bit| match NAMES.get(bit as usize) {
            Some(name) => Cow::Borrowed(*name),
            None => Cow::Owned(format!("CAP_{bit}")),
        })
    }

    /// The bit of a capability name (`CAP_SYS_ADMIN` or `CAP_<bit>`).
    pub fn bit_of(name: &str) -> Option<u32> {
        if let Some(i) = NAMES.iter().position(|n| *n == name) {
            return Some(i as u32);
        }
        name.strip_prefix("CAP_").and_then(|b| b.parse().ok()).filter(|b| *b < 64)
    }
}

impl Serialize for CapSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

impl<'de> Deserialize<'de> for CapSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CapSet, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut mask = 0;
        for name in names {
            let bit = CapSet::bit_of(&name).ok_or_else(|| D::Error::custom(format!("unknown capability {name}")))?;
            mask |= 1u64 << bit;
        }
        Ok(CapSet(mask))
    }
}

#[cfg(test)]
mod tests {
    use super::CapSet;

    #[test]
    fn names_bits_both_ways() {
        let json = |m: u64| serde_json::to_string(&CapSet(m)).unwrap();
        assert_eq!(json(0), "[]");
        assert_eq!(json(1 << 21 | 1 << 0), r#"["CAP_CHOWN","CAP_SYS_ADMIN"]"#);
        assert_eq!(json(1 << 40 | 1 << 50), r#"["CAP_CHECKPOINT_RESTORE","CAP_50"]"#);
        let back: CapSet = serde_json::from_str(r#"["CAP_CHECKPOINT_RESTORE","CAP_50","CAP_CHOWN"]"#).unwrap();
        assert_eq!(back, CapSet(1 << 40 | 1 << 50 | 1));
        assert!(serde_json::from_str::<CapSet>(r#"["CAP_NOPE"]"#).is_err());
    }
}
