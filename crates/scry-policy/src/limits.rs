//! The limits a policy is held to, each refused with an explicit error
//! rather than truncated. Sources: Tetragon's selector parser and BPF code
//! (`pkg/selectors/kernel.go`, `bpf/process/pfilter.h`) as summarized in
//! shared/reference/tracing-policy.md §5 and §8; a few are Scry's own, and
//! say why. Limits that depend on the kernel version (one `matchArgs` entry
//! before 5.3, 4 namespaces before 5.3) are checked when the policy is
//! compiled for a kernel, not here.

/// Selectors per hook.
pub const MAX_SELECTORS: usize = 5;
/// Captured arguments per hook (`args` + `data`; Scry has no `data`).
pub const MAX_ARGS: usize = 5;
/// Highest function-argument position a kprobe, fentry, uprobe or LSM hook
/// can read: the generic probe saves the first 5 argument registers, which is
/// also why `sizeArgIndex` (1-based) stops at 5. Tracepoint positions count
/// format-file fields instead and are checked against the format at load.
pub const MAX_ARG_INDEX: u32 = 4;
/// `matchArgs` entries per selector (`matchArgs` + `matchData`).
pub const MAX_MATCH_ARGS: usize = 5;
/// Values of one integer `matchArgs` entry (Equal, NotEqual, GreaterThan,
/// LessThan, Mask, InRange, NotInRange): the BPF filter holds 4; upstream
/// dropped extras silently before PR #3934. String, port, address, protocol,
/// family and state values live in BPF maps and have no count limit.
pub const MAX_INT_VALUES: usize = 4;
/// Values of one `matchPIDs` entry (the BPF filter compares 4; upstream
/// ignores the rest silently).
pub const MAX_PID_VALUES: usize = 4;
/// `matchBinaries` entries per selector.
pub const MAX_BINARY_FILTERS: usize = 1;
/// Length in bytes of a `matchBinaries` path (the BPF side copies 256 bytes
/// with the terminating NUL).
pub const MAX_BINARY_PATH: usize = 255;
/// `matchBinaries` entries with `followChildren` in one policy. Upstream's
/// bound is over all loaded policies; the agent checks that total when
/// loading, this catches a policy that can never fit.
pub const MAX_FOLLOW_CHILDREN: usize = 64;
/// Values of one `matchNamespaces` entry.
pub const MAX_NAMESPACE_VALUES: usize = 4;
/// `matchNamespaces` entries per selector (kernels ≥ 5.3; 4 before).
pub const MAX_NAMESPACE_FILTERS: usize = 10;
/// Bytes of a `Prefix` / `NotPrefix` value.
pub const MAX_PREFIX_LEN: usize = 256;
/// Bytes of a `Postfix` / `NotPostfix` value (upstream: fewer than 128).
pub const MAX_POSTFIX_LEN: usize = 127;
/// Bytes of an `Equal` / `NotEqual` string. Upstream buckets these by padded
/// length up to 4098 B; Scry caps at 4096 B, what a string or `char_buf`
/// capture holds by default, so a longer value could never match.
pub const MAX_STRING_LEN: usize = 4096;
/// Characters of a hook's `message`.
pub const MAX_MESSAGE_CHARS: usize = 256;
/// Tags per hook.
pub const MAX_TAGS: usize = 16;
/// Actions per selector: the BPF side runs the first 3 and upstream ignores
/// the rest silently.
pub const MAX_ACTIONS: usize = 3;
/// `rateLimit` window in milliseconds: the BPF side keeps it in 32 bits.
pub const MAX_RATE_LIMIT_MS: u64 = u32::MAX as u64;
