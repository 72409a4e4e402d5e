//! Arrow schemas of the tables Scry keeps, with Pixie's names and column
//! order where Pixie has the table (extra Scry columns come after Pixie's).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub const PROC_EXEC_EVENTS: &str = "proc_exec_events";
pub const PROC_EXIT_EVENTS: &str = "proc_exit_events";
pub const HTTP_EVENTS: &str = "http_events";
pub const PGSQL_EVENTS: &str = "pgsql_events";
pub const MYSQL_EVENTS: &str = "mysql_events";
pub const REDIS_EVENTS: &str = "redis_events";
pub const DNS_EVENTS: &str = "dns_events";
pub const CONN_STATS: &str = "conn_stats";
pub const NETWORK_FLOWS: &str = "network_flows";

/// Every table the agent keeps: the store's budget is split over these.
pub const ALL: [&str; 9] = [
    PROC_EXEC_EVENTS,
    PROC_EXIT_EVENTS,
    HTTP_EVENTS,
    PGSQL_EVENTS,
    MYSQL_EVENTS,
    REDIS_EVENTS,
    DNS_EVENTS,
    CONN_STATS,
    NETWORK_FLOWS,
];

fn time() -> Field {
    Field::new("time_", DataType::Timestamp(TimeUnit::Nanosecond, None), false)
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}

/// Where a process runs, as every process table carries it.
fn placement() -> [Field; 6] {
    [text("namespace"), text("pod"), text("container"), text("container_id"), text("unit"), text("node")]
}

/// Scry: one row per exec (`process_exec` events as a table).
pub fn proc_exec_events() -> SchemaRef {
    let mut fields = vec![
        time(),
        text("upid"),
        int("pid"),
        int("ppid"),
        text("exec_id"),
        text("parent_exec_id"),
        text("binary"),
        text("cmdline"),
        text("cwd"),
        int("uid"),
    ];
    fields.extend(placement());
    Arc::new(Schema::new(fields))
}

/// Pixie's `proc_exit_events` (time_, upid, exit_code, signal, comm), then Scry's columns.
pub fn proc_exit_events() -> SchemaRef {
    let mut fields = vec![
        time(),
        text("upid"),
        int("exit_code"),
        int("signal"),
        text("comm"),
        int("pid"),
        text("exec_id"),
        text("binary"),
    ];
    fields.extend(placement());
    Arc::new(Schema::new(fields))
}

/// Pixie's `http_events`: the columns every socket table starts with, then
/// HTTP's.
pub fn http_events() -> SchemaRef {
    socket_table([
        int("major_version"),
        int("minor_version"),
        int("content_type"),
        text("req_headers"),
        text("req_method"),
        text("req_path"),
        text("req_body"),
        int("req_body_size"),
        text("resp_headers"),
        int("resp_status"),
        text("resp_message"),
        text("resp_body"),
        int("resp_body_size"),
    ])
}

/// The socket columns, then `columns`, then `latency`.
fn socket_table(columns: impl IntoIterator<Item = Field>) -> SchemaRef {
    let mut fields = socket_columns().to_vec();
    fields.extend(columns);
    fields.push(int("latency"));
    Arc::new(Schema::new(fields))
}

/// Pixie's `pgsql_events`.
pub fn pgsql_events() -> SchemaRef {
    socket_table([text("req_cmd"), text("req"), text("resp")])
}

/// Pixie's `mysql_events` (`req_cmd` is the COM_* byte, `resp_status` 0 unknown, 1 none, 2 OK, 3 error).
pub fn mysql_events() -> SchemaRef {
    socket_table([int("req_cmd"), text("req_body"), int("resp_status"), text("resp_body")])
}

/// Pixie's `dns_events`: headers and bodies as JSON text.
pub fn dns_events() -> SchemaRef {
    socket_table([text("req_header"), text("req_body"), text("resp_header"), text("resp_body")])
}

/// Pixie's `redis_events`.
pub fn redis_events() -> SchemaRef {
    socket_table([text("req_cmd"), text("req_args"), text("resp")])
}

/// Pixie's `conn_stats`: per (process, remote address, remote port), samples
/// of cumulative counters since tracing began (`remote_port` is 0 on the
/// server side, so clients' ephemeral ports collapse into one row).
/// `addr_family` 1 IPv4, 2 IPv6; `protocol` Pixie's traffic_protocol_t.
pub fn conn_stats() -> SchemaRef {
    Arc::new(Schema::new(vec![
        time(),
        text("upid"),
        text("remote_addr"),
        int("remote_port"),
        int("trace_role"),
        int("addr_family"),
        int("protocol"),
        Field::new("ssl", DataType::Boolean, false),
        int("conn_open"),
        int("conn_close"),
        int("conn_active"),
        int("bytes_sent"),
        int("bytes_recv"),
    ]))
}

/// Pixie's first eight columns of every request/response table.
fn socket_columns() -> [Field; 8] {
    [
        time(),
        text("upid"),
        text("remote_addr"),
        int("remote_port"),
        text("local_addr"),
        int("local_port"),
        int("trace_role"),
        Field::new("encrypted", DataType::Boolean, false),
    ]
}

/// Pixie's UPID rendered as Pixie renders it (a UUID-shaped 128-bit value):
/// high 64 bits `asid << 32 | pid`, low 64 bits the start time in clock ticks
/// (1/100 s since boot).
pub fn upid(asid: u32, pid: u32, start_ticks: u64) -> String {
    let high = (u64::from(asid) << 32) | u64::from(pid);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        start_ticks >> 48,
        start_ticks & 0xffff_ffff_ffff
    )
}

/// Scry: one row per flow `scry observe` shows (Hubble's Flow, flattened).
/// Endpoints are `namespace`/`pod` for pods, empty with `identity` 1 (host)
/// or 2 (world) otherwise; `*_names` are DNS names joined by commas;
/// `is_reply` is 1, 0, or -1 when unknown. Counters are the observing
/// socket's, cumulative over its connection; `socket_cookie` is the kernel's
/// id of the socket the packet was at (a listener's during a handshake; 0
/// for drops and L7 flows, which have none); `summary` is Hubble's.
pub fn network_flows() -> SchemaRef {
    Arc::new(Schema::new(vec![
        time(),
        text("verdict"),
        text("drop_reason"),
        text("kernel_drop_reason"),
        text("type"),
        text("traffic_direction"),
        int("is_reply"),
        text("protocol"),
        text("tcp_flags"),
        text("src_addr"),
        int("src_port"),
        text("src_namespace"),
        text("src_pod"),
        text("src_workload"),
        int("src_identity"),
        text("src_names"),
        text("dst_addr"),
        int("dst_port"),
        text("dst_namespace"),
        text("dst_pod"),
        text("dst_workload"),
        int("dst_identity"),
        text("dst_names"),
        int("bytes_sent"),
        int("bytes_recv"),
        int("packets_sent"),
        int("packets_recv"),
        int("retransmits"),
        int("resets"),
        int("socket_cookie"),
        text("http_method"),
        text("http_url"),
        int("http_status"),
        int("latency"),
        text("summary"),
        text("node"),
    ]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn upid_renders_like_pixie() {
        assert_eq!(super::upid(1, 0x1a2b, 0x4d2c1), "00000001-0000-1a2b-0000-00000004d2c1");
    }
}
