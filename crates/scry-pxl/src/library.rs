//! The `px/` scripts shipped in the binary, named as Pixie names its own so
//! `scry run px/…` works from muscle memory. Each is a `.pxl` file and a
//! `vis.json` saying which functions to run with which arguments.

use crate::error::Result;
use crate::vis::Vis;

pub struct Script {
    pub name: &'static str,
    pub description: &'static str,
    pub pxl: &'static str,
    pub vis: &'static str,
}

impl Script {
    pub fn vis(&self) -> Result<Vis> {
        Vis::parse(self.vis)
    }
}

macro_rules! script {
    ($name:literal, $dir:literal, $description:literal) => {
        Script {
            name: $name,
            description: $description,
            pxl: include_str!(concat!("../library/", $name, "/", $dir, ".pxl")),
            vis: include_str!(concat!("../library/", $name, "/vis.json")),
        }
    };
}

pub const SCRIPTS: &[Script] = &[
    script!(
        "px/http_data",
        "http_data",
        "Recent HTTP requests: requestor, responder, method, path, status, latency, bodies."
    ),
    script!(
        "px/http_request_stats",
        "http_request_stats",
        "HTTP latency (p50/p90/p99), error rate and throughput per pod and path."
    ),
    script!(
        "px/redis_data",
        "redis_data",
        "Recent Redis commands: requestor, responder, command, arguments, reply, latency."
    ),
    script!(
        "px/service_stats",
        "service_stats",
        "HTTP latency (p50/p90/p99), error rate and throughput per service, per 10 s."
    ),
    script!(
        "px/sql_queries",
        "sql_queries",
        "PostgreSQL and MySQL statements per normalized query: latency, errors, time spent; slowest runs; N+1 patterns."
    ),
    script!(
        "px/pgsql_stats",
        "pgsql_stats",
        "PostgreSQL latency (p50/p90/p99), error rate and throughput per pod, per 10 s."
    ),
    script!(
        "px/mysql_stats",
        "mysql_stats",
        "MySQL latency (p50/p90/p99), error rate and throughput per pod, per 10 s."
    ),
    script!(
        "px/dns_data",
        "dns_data",
        "Recent DNS requests: requestor, responder, query name and type, response code, answers, latency."
    ),
    script!(
        "px/conn_stats",
        "conn_stats",
        "Connections per process and remote endpoint: opened, closed, active, bytes sent and received, protocol."
    ),
    script!(
        "px/net_flow_graph",
        "net_flow_graph",
        "Service map from network flows: connections, bytes and packets each way, retransmits, resets; drops."
    ),
    script!("px/procs", "procs", "Processes started on the node, with placement, exit code, signal and lifetime."),
    script!("px/proc_exits", "proc_exits", "How processes ended: exits by code and signal, failure rate per binary."),
    script!("px/upids", "upids", "Processes (UPIDs) per pod: executions, first and last seen."),
];

pub fn find(name: &str) -> Option<&'static Script> {
    SCRIPTS.iter().find(|s| s.name == name)
}
