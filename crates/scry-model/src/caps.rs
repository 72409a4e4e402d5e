//! Linux capability names, as Tetragon prints them (`CAP_SYS_ADMIN`).

const NAMES: [&str; 41] = [
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

/// Names of the capabilities set in `mask`, lowest bit first. Bits past the
/// last known capability are named `CAP_<bit>`.
pub fn names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match NAMES.get(bit as usize) {
            Some(name) => (*name).to_owned(),
            None => format!("CAP_{bit}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_bits() {
        assert_eq!(super::names(0), Vec::<String>::new());
        assert_eq!(super::names(1 << 21 | 1 << 0), ["CAP_CHOWN", "CAP_SYS_ADMIN"]);
        assert_eq!(super::names(1 << 40 | 1 << 50), ["CAP_CHECKPOINT_RESTORE", "CAP_50"]);
    }
}
