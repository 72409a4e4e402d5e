//! The Scry node agent: wires the BPF sources, the process cache, attribution,
//! the event bus and the local API together.

pub mod api;
pub mod client;
pub mod collector;
pub mod directory;
pub mod events;
pub mod flows;
pub mod metadata;
pub mod metrics;
pub mod pipeline;
pub mod policies;
pub mod preflight;
pub mod process_cache;
pub mod procfs;
pub mod sockets;
pub mod tables;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use scry_bpf::probe::HookSupport;
use scry_bpf::process::ProcessSourceConfig;
use scry_bpf::socket::SocketSourceConfig;
use scry_model::status::{AgentStatus, HookProbe, KubernetesStatus, MetricsStatus, StreamStatus};
use scry_model::tables::{NETWORK_FLOWS, PROC_EXEC_EVENTS, PROC_EXIT_EVENTS};
use scry_query::{EngineConfig, QueryEngine};
use scry_store::{Budget, Store};

use crate::collector::SourceStats;
use crate::directory::ProcessDirectory;
use crate::events::EventBus;
use crate::flows::collector::{FlowCollector, FlowStats};
use crate::flows::hub::FlowHub;
use crate::flows::table::FlowTable;
use crate::flows::{FlowConfig, L7Sink};
use crate::metadata::Attributor;
use crate::metadata::cgroup::CgroupMounts;
use crate::metadata::k8s::PodStore;
use crate::metrics::{Metrics, MetricsConfig};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::policies::PolicyManager;
use crate::sockets::SocketTracingConfig;
use crate::sockets::collector::{SocketStats, start_socket_collector};
use crate::sockets::tables::SocketTables;
use crate::tables::ProcessTables;

pub const DEFAULT_SOCKET: &str = "/run/scry/scry.sock";

/// Processes the query engine can name by UPID (`df.ctx[…]`), most recent first.
const PROCESS_DIRECTORY_SIZE: usize = 16_384;

/// Whether to watch Kubernetes pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubernetesMode {
    /// When running in a cluster (in-cluster service account) or KUBECONFIG is set.
    Auto,
    Off,
    /// With this kubeconfig file.
    Kubeconfig(PathBuf),
}

#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub socket: PathBuf,
    pub node_name: String,
    pub args_max: u32,
    pub ring_bytes: u32,
    pub process_cache_size: NonZeroUsize,
    pub exit_grace: Duration,
    pub enable_ancestors: bool,
    pub stream_queue: usize,
    pub kubernetes: KubernetesMode,
    /// Bytes all tables may hold together, split as Pixie splits them.
    pub store_bytes: u64,
    /// Memory one query may use.
    pub query_memory_bytes: usize,
    pub socket_tracing: SocketTracingConfig,
    pub flows: FlowConfig,
    pub metrics: MetricsConfig,
    /// TracingPolicy files loaded at start.
    pub policy_dir: Option<PathBuf>,
}

/// How long start-up waits for the first list of this node's pods.
const POD_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// The node name: `NODE_NAME` (set from the downward API in a DaemonSet), else the hostname.
pub fn default_node_name() -> String {
    if let Ok(n) = std::env::var("NODE_NAME")
        && !n.is_empty()
    {
        return n;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_owned()).unwrap_or_default()
}

async fn kube_client(mode: &KubernetesMode) -> anyhow::Result<Option<kube::Client>> {
    let config = match mode {
        KubernetesMode::Off => return Ok(None),
        KubernetesMode::Kubeconfig(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        KubernetesMode::Auto => {
            let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
            if !in_cluster && std::env::var_os("KUBECONFIG").is_none() {
                return Ok(None);
            }
            kube::Config::infer().await.context("finding the Kubernetes API (in-cluster config or KUBECONFIG)")?
        }
    };
    Ok(Some(kube::Client::try_from(config).context("creating the Kubernetes client")?))
}

/// Runs the agent until Ctrl-C or SIGTERM.
pub async fn run(cfg: AgentConfig) -> anyhow::Result<()> {
    let started = Instant::now();
    let facts = preflight::check()?;
    scry_bpf::route_libbpf_messages(|level, msg| match level {
        scry_bpf::PrintLevel::Warn => tracing::debug!(target: "libbpf", "{}", msg.trim_end()),
        _ => tracing::trace!(target: "libbpf", "{}", msg.trim_end()),
    });
    let support = HookSupport::probe();
    let mounts = CgroupMounts::detect();

    let client = kube_client(&cfg.kubernetes).await?;
    let pods = client.as_ref().map(|_| PodStore::default());
    let bus = Arc::new(EventBus::default());
    let store = Arc::new(Store::default());
    let budget = Budget::pixie_defaults(cfg.store_bytes).split(scry_model::tables::ALL);
    let directory = Arc::new(ProcessDirectory::new(&cfg.node_name, PROCESS_DIRECTORY_SIZE));
    let process_tables = ProcessTables::create(
        &store,
        directory.clone(),
        &cfg.node_name,
        budget[PROC_EXEC_EVENTS],
        budget[PROC_EXIT_EVENTS],
    )?;
    let engine = Arc::new(QueryEngine::new(
        store,
        EngineConfig { memory_limit_bytes: cfg.query_memory_bytes, metadata: directory, ..EngineConfig::default() },
    ));
    let pipeline = Arc::new(
        Pipeline::new(
            PipelineConfig {
                node_name: cfg.node_name.clone(),
                enable_ancestors: cfg.enable_ancestors,
                process_cache_size: cfg.process_cache_size,
                exit_grace: cfg.exit_grace,
            },
            facts.host_namespaces,
            Attributor::new(mounts.clone(), pods.clone()),
            bus.clone(),
        )
        .with_tables(process_tables),
    );
    let watch = match (client, pods.clone()) {
        (Some(client), Some(store)) => Some(tokio::spawn(store.watch(client, cfg.node_name.clone()))),
        _ => None,
    };
    // Pods first, then processes: a process whose exec comes before its pod
    // is known would carry no pod.
    let mut notices = facts.notices.clone();
    if let Some(store) = &pods
        && !store.wait_synced(POD_SYNC_TIMEOUT).await
    {
        let notice = format!(
            "the pod list was not in after {}s; processes started before it may lack their pod",
            POD_SYNC_TIMEOUT.as_secs()
        );
        tracing::warn!("{notice}");
        notices.push(notice);
    }

    let cgroup2_root = mounts.v2.clone().unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup"));
    let stop = Arc::new(AtomicBool::new(false));
    let process_stats = Arc::new(SourceStats::default());
    let collector = collector::start_process_collector(
        ProcessSourceConfig { args_max: cfg.args_max, ring_bytes: cfg.ring_bytes },
        support.clone(),
        mounts,
        pipeline.clone(),
        process_stats.clone(),
        stop.clone(),
    )
    .map_err(|e| anyhow::anyhow!("cannot start the process source: {e}"))?;
    // Flows, like socket tracing, are one source among several.
    let flow_stats = Arc::new(FlowStats::default());
    let (metrics, flow_metrics) = Metrics::new(&cfg.metrics);
    let hub = Arc::new(FlowHub::new(cfg.flows.buffer_capacity));
    let (l7_sink, l7_rx) = L7Sink::channel();
    let flow_collector = FlowTable::create(engine.store(), budget.get(NETWORK_FLOWS).copied().unwrap_or_default())
        .map_err(|e| e.to_string())
        .and_then(|table| {
            if !cfg.flows.enabled {
                return Err("turned off by --flows off".to_owned());
            }
            FlowCollector {
                cfg: scry_bpf::net::NetSourceConfig { cgroup_root: cgroup2_root, ..Default::default() },
                pipeline: pipeline.clone(),
                node_name: cfg.node_name.clone(),
                hub: hub.clone(),
                l7: (l7_sink.clone(), l7_rx),
                stats: flow_stats.clone(),
                stop: stop.clone(),
                table,
                metrics: flow_metrics.clone(),
            }
            .start()
        })
        .inspect_err(|e| {
            tracing::warn!("network flows are off: {e}");
            flow_stats.unavailable(e.clone());
        })
        .ok();
    let hub = flow_collector.as_ref().map(|_| hub);
    let l7_sink = flow_collector.as_ref().map(|_| l7_sink);
    // Socket tracing is one source among several: without it the agent still
    // serves process events and tables, and `scry status` says why not.
    let socket_stats = Arc::new(SocketStats::default());
    let socket_collector =
        SocketTables::create(engine.store(), pipeline.clone(), |name| budget.get(name).copied().unwrap_or_default())
            .map(|tables| tables.redacting(cfg.socket_tracing.redact).with_l7(l7_sink))
            .map_err(|e| e.to_string())
            .and_then(|tables| {
                if !cfg.socket_tracing.enabled {
                    return Err("turned off by --socket-tracing off".to_owned());
                }
                start_socket_collector(
                    SocketSourceConfig::default(),
                    cfg.socket_tracing.clone(),
                    tables,
                    socket_stats.clone(),
                    stop.clone(),
                )
            })
            .inspect_err(|e| {
                tracing::warn!("socket tracing is off: {e}");
                socket_stats.unavailable(e.clone());
            })
            .ok();

    let metrics_listener = match cfg.metrics.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --metrics-addr {addr} for /metrics"))?,
        ),
        None => None,
    };
    let metrics_address = metrics_listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.to_string());
    // Policies, like flows, are one capability among several.
    let policy_engine = match PolicyManager::start(pipeline.clone(), bus.clone(), &cfg.node_name, stop.clone()) {
        Ok((manager, handle)) => {
            if let Some(dir) = &cfg.policy_dir {
                for rejected in manager.load_dir(dir) {
                    tracing::warn!("{rejected}");
                    notices.push(rejected);
                }
            }
            Some((manager, handle))
        }
        Err(e) => {
            let notice = format!("TracingPolicies are off: {e}");
            tracing::warn!("{notice}");
            notices.push(notice);
            None
        }
    };
    let (policies, policy_thread) = match policy_engine {
        Some((m, h)) => (Some(m), Some(h)),
        None => (None, None),
    };
    let status = {
        let metrics_status = {
            let (flow_metrics, max_series) = (flow_metrics.clone(), cfg.metrics.max_series as u64);
            move || MetricsStatus {
                address: metrics_address.clone(),
                flow_plugins: flow_metrics.plugins(),
                max_series,
                series_refused: flow_metrics.refused(),
            }
        };
        let policy_source = policies.clone();
        let (bus, pipeline, stats, node, sockets, flows) = (
            bus.clone(),
            pipeline.clone(),
            process_stats.clone(),
            cfg.node_name.clone(),
            socket_stats.clone(),
            flow_stats.clone(),
        );
        let hooks: Vec<HookProbe> =
            support.results.iter().map(|r| HookProbe { kind: r.kind.to_string(), error: r.error.clone() }).collect();
        let k8s_off = match &cfg.kubernetes {
            KubernetesMode::Off => "disabled by --kubernetes=off".to_owned(),
            _ => "not in a cluster (no in-cluster service account, KUBECONFIG or --kubeconfig)".to_owned(),
        };
        Arc::new(move || AgentStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            node_name: node.clone(),
            kernel: facts.kernel.clone(),
            btf: Some(facts.btf.clone()),
            uptime_seconds: started.elapsed().as_secs(),
            hooks: hooks.clone(),
            sources: [stats.status(), sockets.source(), flows.source()]
                .into_iter()
                .chain(policy_source.as_ref().map(PolicyManager::source))
                .collect(),
            stream: StreamStatus {
                subscribers: bus.subscribers(),
                queue_dropped: bus.dropped(),
                events_published: bus.published(),
            },
            process_cache: pipeline.cache_status(),
            kubernetes: match &pods {
                Some(store) => {
                    let (pods, containers) = store.counts();
                    KubernetesStatus { enabled: true, detail: store.last_error(), pods, containers }
                }
                None => KubernetesStatus { enabled: false, detail: k8s_off.clone(), ..Default::default() },
            },
            sockets: sockets.tracing(),
            flows: flows.flows(),
            metrics: metrics_status(),
            notices: notices.clone(),
        }) as Arc<dyn Fn() -> AgentStatus + Send + Sync>
    };

    let metrics = Arc::new(metrics.with_health(status.clone(), engine.store().clone()));
    let metrics_server = metrics_listener.map(|l| {
        let app = metrics::router(metrics.clone());
        tokio::spawn(async move { axum::serve(l, app).await })
    });
    let listener = bind(&cfg.socket)?;
    let app = api::router(api::ApiState {
        bus,
        status,
        node_name: cfg.node_name.clone(),
        queue: cfg.stream_queue,
        engine,
        flows: hub,
        metrics,
        policies,
    });
    tracing::info!("scry agent running on {}; API at {}", cfg.node_name, cfg.socket.display());
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;

    stop.store(true, Ordering::Relaxed);
    for task in [watch.map(|w| w.abort_handle()), metrics_server.map(|m| m.abort_handle())].into_iter().flatten() {
        task.abort();
    }
    let joined = tokio::task::spawn_blocking(move || {
        let sockets_joined = socket_collector.map_or(Ok(()), std::thread::JoinHandle::join);
        let flows_joined = flow_collector.map_or(Ok(()), std::thread::JoinHandle::join);
        let policies_joined = policy_thread.map_or(Ok(()), std::thread::JoinHandle::join);
        collector.join().and(sockets_joined).and(flows_joined).and(policies_joined)
    })
    .await;
    let _ = std::fs::remove_file(&cfg.socket);
    served.context("serving the local API")?;
    if !matches!(joined, Ok(Ok(()))) {
        bail!("a collector thread panicked");
    }
    tracing::info!("scry agent stopped; BPF programs detached");
    Ok(())
}

/// Binds the API socket, replacing a stale one but never a live agent's.
fn bind(path: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another scry agent is already serving {}; stop it first or pass --socket", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let listener =
        tokio::net::UnixListener::bind(path).with_context(|| format!("binding the API socket {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("restricting {}", path.display()))?;
    Ok(listener)
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
