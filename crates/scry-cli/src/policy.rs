//! `scry policy`: TracingPolicies on the running agent.

use std::fmt::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use scry_agent::client::{Client, PolicyCommand};
use scry_model::status::PolicyInfo;

use crate::SocketArg;

#[derive(Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    socket: SocketArg,
    #[command(subcommand)]
    command: PolicySub,
}

#[derive(Subcommand)]
enum PolicySub {
    /// Validate a TracingPolicy (Tetragon's YAML) and install it whole.
    Add { file: PathBuf },
    /// Each policy: state, mode, hooks and what attaches for them here, counters.
    List,
    /// Remove a policy and its hooks.
    Delete { name: String },
    /// Resume a disabled policy.
    Enable { name: String },
    /// Pause a policy's hooks without removing it.
    Disable { name: String },
}

pub async fn run(args: PolicyArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.socket.socket);
    match args.command {
        PolicySub::Add { file } => {
            let yaml =
                std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let info = client.add_policy(&yaml).await?;
            print!("{}", text(&[info]));
        }
        PolicySub::List => print!("{}", text(&client.policies().await?)),
        PolicySub::Delete { name } => client.policy_command(PolicyCommand::Delete, &name).await?,
        PolicySub::Enable { name } => client.policy_command(PolicyCommand::Enable, &name).await?,
        PolicySub::Disable { name } => client.policy_command(PolicyCommand::Disable, &name).await?,
    }
    Ok(())
}

fn text(policies: &[PolicyInfo]) -> String {
    let mut o = String::new();
    for p in policies {
        let _ = writeln!(
            o,
            "{} ({}, {}): {} events, {} signals, {} rate-limited",
            p.name, p.state, p.mode, p.events, p.signals, p.rate_limited
        );
        for h in &p.hooks {
            let _ = writeln!(o, "  {}: {} → {}", h.path, h.hook, h.attachment);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use scry_model::status::PolicyHookInfo;

    use super::*;

    #[test]
    fn each_policy_with_its_hooks_and_what_attaches() {
        let p = PolicyInfo {
            name: "no-umask".into(),
            state: "enabled".into(),
            mode: "enforce".into(),
            hooks: vec![PolicyHookInfo {
                path: "spec.kprobes[0]".into(),
                hook: "kprobe sys_umask (syscall)".into(),
                attachment: "tracepoint syscalls/sys_enter_umask".into(),
            }],
            events: 2,
            signals: 1,
            rate_limited: 3,
        };
        assert_eq!(
            text(&[p]),
            "no-umask (enabled, enforce): 2 events, 1 signals, 3 rate-limited\n  spec.kprobes[0]: kprobe sys_umask (syscall) → tracepoint syscalls/sys_enter_umask\n"
        );
    }
}
