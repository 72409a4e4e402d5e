//! `scry`: the node agent and the commands that talk to it.

mod observe;
mod policy;
mod results;
mod status;

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use scry_agent::client::Client;
use scry_agent::sockets::SocketTracingConfig;
use scry_agent::{AgentConfig, DEFAULT_SOCKET, KubernetesMode};
use scry_model::EventType;
use scry_model::filter::EventFilter;

/// The agent allocates and frees records on every hot path (events, flows,
/// table rows) from several threads: glibc's allocator spent half its time
/// consolidating and reallocating under nginx at saturation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "scry", version, about = "eBPF observability and runtime security for Linux nodes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node agent in the foreground (as root). Ctrl-C stops it and detaches everything.
    Agent(AgentArgs),
    /// Stream events from the running agent.
    Events(EventsArgs),
    /// Observe flows from the running agent, with hubble observe's flags.
    Observe(observe::ObserveArgs),
    /// Show the agent's hooks, sources, losses and caches.
    Status(StatusArgs),
    /// Manage TracingPolicies (Tetragon's format): add FILE | list | delete | enable | disable NAME.
    Policy(policy::PolicyArgs),
    /// Run a PxL script on the agent's tables: a file, `-` for stdin, or a library script such as
    /// px/procs. Script arguments follow `--`, as with `px run`: scry run px/procs -- --start_time=-10m
    Run(RunArgs),
    /// Query the agent's tables with SQL (read-only).
    Sql(SqlArgs),
    /// List the agent's tables: columns, rows, bytes, time span, evictions.
    Tables(TablesArgs),
}

#[derive(Args)]
struct SqlArgs {
    #[command(flatten)]
    socket: SocketArg,
    /// The query, e.g. "SELECT binary, count(*) FROM proc_exec_events GROUP BY binary".
    query: String,
    #[arg(short, long, value_enum, default_value_t = results::Format::Table)]
    output: results::Format,
    /// Rows per result table at most.
    #[arg(long, default_value_t = scry_query::wire::DEFAULT_MAX_ROWS)]
    max_rows: usize,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    socket: SocketArg,
    /// A .pxl file, `-` for stdin, or a library script name (see --list).
    #[arg(required_unless_present = "list")]
    script: Option<String>,
    /// List the library scripts and exit.
    #[arg(long)]
    list: bool,
    /// A Pixie vis spec (vis.json) for a script file: its variables are the script's arguments, its
    /// widgets the functions to run. Library scripts carry their own.
    #[arg(long)]
    vis: Option<std::path::PathBuf>,
    #[arg(short, long, value_enum, default_value_t = results::Format::Table)]
    output: results::Format,
    /// Rows per output table at most (default: the script's #px:set max_output_rows_per_table, else 10000).
    #[arg(long)]
    max_rows: Option<usize>,
    /// Script arguments: --name=value or --name value.
    #[arg(last = true)]
    args: Vec<String>,
}

#[derive(Args)]
struct TablesArgs {
    #[command(flatten)]
    socket: SocketArg,
    #[arg(short, long, value_enum, default_value_t = results::Format::Table)]
    output: results::Format,
}

#[derive(Args)]
struct SocketArg {
    /// The agent's API socket.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kubernetes {
    /// Watch pods when running in a cluster or when KUBECONFIG is set.
    Auto,
    Off,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

#[derive(Args)]
struct AgentArgs {
    #[command(flatten)]
    socket: SocketArg,
    /// Node name used in events and exec ids (default: $NODE_NAME, else the hostname).
    #[arg(long)]
    node_name: Option<String>,
    /// Bytes of argv captured per exec; longer argv is cut and flagged truncArgs.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=16383))]
    args_size: u32,
    /// Ring buffer size in bytes for process events (a power of two).
    #[arg(long, default_value_t = 8 << 20)]
    ring_buffer_size: u32,
    /// Most process images kept in the process cache (LRU beyond that).
    #[arg(long, default_value_t = NonZeroUsize::new(65536).expect("nonzero"))]
    process_cache_size: NonZeroUsize,
    /// Seconds an exited process stays in the cache for late events.
    #[arg(long, default_value_t = 10)]
    exit_grace_seconds: u64,
    /// Add each event's ancestors (beyond the parent) to process events.
    #[arg(long)]
    enable_ancestors: bool,
    /// Events queued per stream subscriber before drops (counted and reported).
    #[arg(long, default_value_t = 10000)]
    event_queue_size: usize,
    /// Kubernetes pod metadata.
    #[arg(long, value_enum, default_value_t = Kubernetes::Auto)]
    kubernetes: Kubernetes,
    /// Kubeconfig to watch pods with (implies Kubernetes on).
    #[arg(long, conflicts_with = "kubernetes")]
    kubeconfig: Option<PathBuf>,
    /// TracingPolicy files (*.yaml, *.yml) to load at start; a rejected file is
    /// logged and shown in `scry status`, and the others still load.
    #[arg(long)]
    policy_dir: Option<PathBuf>,
    /// Memory all tables may use together, in MiB (split as Pixie splits it).
    #[arg(long, default_value_t = 1280)]
    store_size_mb: u64,
    /// Memory one query may use, in MiB; a query needing more fails.
    #[arg(long, default_value_t = 256)]
    query_memory_mb: usize,
    /// Bytes of a body column (HTTP bodies, MySQL statements and responses)
    /// before it is cut and marked `... [TRUNCATED]`; Pixie's default.
    #[arg(long, default_value_t = scry_protocols::DEFAULT_BODY_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
              .range(1..=scry_protocols::MAX_BODY_BYTES_LIMIT as u64))]
    max_body_bytes: usize,
    /// Redact secrets and values before rows are stored: credential headers,
    /// query-string and body values, SQL literals and bound parameters, result
    /// rows, Redis values (Pixie's PIIRestricted mode, applied at capture).
    #[arg(long)]
    redact: bool,
    /// Socket data tracing (Pixie's http_events, dns_events, … and
    /// conn_stats). `off` for runtime security and flows alone: the socket
    /// tracer's syscall tracepoints put every syscall of the node on the
    /// kernel's slow path (`scry status` says it is off and why).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    socket_tracing: Switch,
    /// Seconds between two conn_stats samples.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    conn_stats_interval: u64,
    /// Network flows (Hubble's flows, `network_flows`, flow metrics). `off`
    /// spares every packet the flow programs' work.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    flows: Switch,
    /// Flows kept for `scry observe --last` (Hubble's event buffer capacity).
    #[arg(long, default_value_t = scry_agent::flows::hub::DEFAULT_CAPACITY,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 24))]
    flow_buffer_capacity: usize,
    /// Where Prometheus scrapes `/metrics` (TCP), or `off` to serve it on the
    /// API socket only.
    #[arg(long, default_value = scry_agent::metrics::DEFAULT_ADDR, value_parser = parse_metrics_addr)]
    metrics_addr: MetricsAddr,
    /// Flow metrics, as Hubble's `--hubble-metrics`: space-separated plugins
    /// (dns drop tcp flow port-distribution icmp httpV2 flows-to-world), each
    /// with `:`-then-`;`-separated options (sourceContext=pod|ip,
    /// destinationContext=…, labelsContext=…, query, ignoreAAAA …).
    #[arg(long, default_value = scry_agent::metrics::spec::DEFAULT_FLOW_METRICS,
          value_parser = |s: &str| s.parse::<scry_agent::metrics::spec::FlowMetricsSpec>())]
    flow_metrics: scry_agent::metrics::spec::FlowMetricsSpec,
    /// Series each flow metric family keeps. At the cap, series idle for 5
    /// minutes make room; if none is, new label sets are refused and counted
    /// in scry_metrics_series_refused_total.
    #[arg(long, default_value_t = scry_agent::metrics::flow::DEFAULT_MAX_SERIES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 24))]
    metrics_max_series: usize,
    /// Log filter (e.g. info, debug, scry_agent=debug).
    #[arg(long, default_value = "info")]
    log: String,
}

/// `--metrics-addr`: an address, or none.
#[derive(Clone, Copy, Debug)]
struct MetricsAddr(Option<std::net::SocketAddr>);

fn parse_metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    if s == "off" {
        return Ok(MetricsAddr(None));
    }
    s.parse()
        .map(|a| MetricsAddr(Some(a)))
        .map_err(|e| format!("`{s}` is not an address like 0.0.0.0:9965 or `off`: {e}"))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EventsOutput {
    Json,
    Compact,
}

#[derive(Args)]
struct EventsArgs {
    #[command(flatten)]
    socket: SocketArg,
    #[arg(short, long, value_enum, default_value_t = EventsOutput::Json)]
    output: EventsOutput,
    /// Event types (PROCESS_EXEC, PROCESS_EXIT); comma-separated or repeated.
    #[arg(short, long, value_delimiter = ',', value_parser = parse_event_type)]
    event_types: Vec<EventType>,
    /// Binary path regex; repeat for OR.
    #[arg(long = "binary", alias = "process")]
    binary: Vec<String>,
    #[arg(long)]
    pid: Vec<u32>,
    /// Kubernetes namespace (exact); "" selects host processes.
    #[arg(short, long)]
    namespace: Vec<String>,
    /// Pod name regex.
    #[arg(long)]
    pod: Vec<String>,
    /// Container id or name regex.
    #[arg(long)]
    container: Vec<String>,
    /// Prefix compact lines with the event time.
    #[arg(long)]
    timestamps: bool,
}

fn parse_event_type(s: &str) -> Result<EventType, String> {
    EventType::parse(s).ok_or_else(|| {
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.name()).collect();
        format!("unknown event type {s:?}; known: {}", known.join(", "))
    })
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusOutput {
    Text,
    Json,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    socket: SocketArg,
    #[arg(short, long, value_enum, default_value_t = StatusOutput::Text)]
    output: StatusOutput,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("scry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Agent(args) => agent(args).await,
            Command::Events(args) => events(args).await,
            Command::Observe(args) => observe::run(args).await,
            Command::Policy(args) => policy::run(args).await,
            Command::Status(args) => status::show(&Client::new(&args.socket.socket), args.output).await,
            Command::Run(args) => run_script(args).await,
            Command::Sql(args) => sql(args).await,
            Command::Tables(args) => {
                let tables = Client::new(&args.socket.socket).tables().await?;
                Ok(results::print_tables(&mut std::io::stdout().lock(), &tables, args.output)?)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scry: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log)?)
        .with_writer(std::io::stderr)
        .init();
    let kubernetes = match (args.kubeconfig, args.kubernetes) {
        (Some(path), _) => KubernetesMode::Kubeconfig(path),
        (None, Kubernetes::Off) => KubernetesMode::Off,
        (None, Kubernetes::Auto) => KubernetesMode::Auto,
    };
    scry_agent::run(AgentConfig {
        socket: args.socket.socket,
        node_name: args.node_name.unwrap_or_else(scry_agent::default_node_name),
        args_max: args.args_size,
        ring_bytes: args.ring_buffer_size,
        process_cache_size: args.process_cache_size,
        exit_grace: Duration::from_secs(args.exit_grace_seconds),
        enable_ancestors: args.enable_ancestors,
        stream_queue: args.event_queue_size,
        kubernetes,
        store_bytes: args.store_size_mb << 20,
        query_memory_bytes: args.query_memory_mb << 20,
        socket_tracing: SocketTracingConfig {
            enabled: args.socket_tracing == Switch::On,
            conn_stats_every: Duration::from_secs(args.conn_stats_interval),
            limits: scry_protocols::Limits { body_bytes: args.max_body_bytes },
            redact: args.redact,
        },
        flows: scry_agent::flows::FlowConfig {
            enabled: args.flows == Switch::On,
            buffer_capacity: args.flow_buffer_capacity,
        },
        metrics: scry_agent::metrics::MetricsConfig {
            listen: args.metrics_addr.0,
            flows: args.flow_metrics,
            max_series: args.metrics_max_series,
        },
        policy_dir: args.policy_dir,
    })
    .await
}

async fn run_script(args: RunArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.list {
        for s in scry_pxl::library::SCRIPTS {
            writeln!(out, "{:<20} {}", s.name, s.description)?;
        }
        return Ok(());
    }
    let name = args.script.unwrap_or_default();
    let (script, vis) = match scry_pxl::library::find(&name) {
        Some(s) => (s.pxl.to_owned(), Some(s.vis()?)),
        None => {
            let script = if name == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&name).map_err(|e| {
                    let library: Vec<&str> = scry_pxl::library::SCRIPTS.iter().map(|s| s.name).collect();
                    anyhow::anyhow!("{name}: {e}; not a library script either ({})", library.join(", "))
                })?
            };
            let vis = match &args.vis {
                Some(path) => Some(scry_pxl::vis::Vis::parse(&std::fs::read_to_string(path)?)?),
                None => None,
            };
            (script, vis)
        }
    };
    let given = script_args(&args.args)?;
    let exec_funcs = match vis {
        Some(vis) => vis.exec_funcs(&given)?,
        None if given.is_empty() => Vec::new(),
        None => anyhow::bail!("script arguments need a vis spec naming them (--vis vis.json)"),
    };
    let req = scry_query::wire::ScriptRequest { script, exec_funcs, max_rows: args.max_rows };
    let resp = Client::new(&args.socket.socket).pxl(&req).await?;
    Ok(results::print_outputs(&mut out, &resp.tables, args.output)?)
}

/// `--name=value` or `--name value` pairs, as `px run` takes them after `--`.
fn script_args(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = raw.iter();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            anyhow::bail!("script argument `{arg}`: write --name=value");
        };
        match flag.split_once('=') {
            Some((k, v)) => out.push((k.to_owned(), v.to_owned())),
            None => match it.next() {
                Some(v) => out.push((flag.to_owned(), v.clone())),
                None => anyhow::bail!("script argument `{arg}` has no value"),
            },
        }
    }
    Ok(out)
}

async fn sql(args: SqlArgs) -> anyhow::Result<()> {
    let req = scry_query::wire::SqlRequest { query: args.query, max_rows: Some(args.max_rows) };
    let resp = Client::new(&args.socket.socket).sql(&req).await?;
    let mut out = std::io::stdout().lock();
    for table in &resp.tables {
        results::print(&mut out, table, args.output)?;
    }
    Ok(())
}

async fn events(args: EventsArgs) -> anyhow::Result<()> {
    let filter = EventFilter {
        event_types: args.event_types,
        binary_regex: args.binary,
        pid: args.pid,
        namespace: args.namespace,
        pod_regex: args.pod,
        container_regex: args.container,
    };
    // Fail on a bad regex here, with the flag's name, before asking the agent.
    filter.compile()?;
    let mut stream = Client::new(&args.socket.socket).events(&filter).await?;
    let mut out = std::io::stdout().lock();
    while let Some(line) = stream.next_line().await? {
        let text = match args.output {
            EventsOutput::Json => line,
            EventsOutput::Compact => {
                let event: scry_model::EventEnvelope = serde_json::from_str(&line)?;
                scry_model::compact::format(&event, args.timestamps)
            }
        };
        // A closed stdout (`| head`) ends the stream quietly.
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
    anyhow::bail!("the agent closed the event stream (it stopped)")
}
