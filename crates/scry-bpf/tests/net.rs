//! Runs as root on the real kernel: loads the flow source and checks the
//! records a real TCP connection, a UDP exchange and a connection to a closed
//! port produce.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use scry_bpf::net::{
    FlowKey, NetDirection, NetEventKind, NetRecord, NetSource, NetSourceConfig, Origin, decode, ip_proto,
};

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "these tests load BPF programs and must run as root");
}

/// Loads the source, runs `work`, and returns every record until `done` says
/// the records it wants are in (or 5 s pass).
fn records_of(work: impl FnOnce(), done: impl Fn(&[NetRecord]) -> bool) -> (Vec<NetRecord>, NetSource) {
    let source = NetSource::load(&NetSourceConfig::default()).expect("flow source loads");
    assert!(source.missing.is_empty(), "hooks refused: {:?}", source.missing);
    let records = Rc::new(RefCell::new(Vec::new()));
    let sink = records.clone();
    let mut builder = libbpf_rs::RingBufferBuilder::new();
    builder
        .add(source.ring(), move |bytes: &[u8]| {
            sink.borrow_mut().push(decode(bytes).expect("record decodes"));
            0
        })
        .unwrap();
    let ring = builder.build().unwrap();
    work();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !done(&records.borrow()) {
        ring.poll(Duration::from_millis(50)).unwrap();
        ring.consume().unwrap();
    }
    let out = records.borrow().clone();
    (out, source)
}

fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

#[test]
fn a_tcp_connection_is_reported_from_both_sockets_with_counts() {
    require_root();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_port = listener.local_addr().unwrap().port();
    let client_port = std::cell::Cell::new(0);
    let work = || {
        let mut client = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
        client_port.set(client.local_addr().unwrap().port());
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        server.write_all(b"pong!").unwrap();
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).unwrap();
        drop(client);
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).unwrap();
    };
    let mine = |r: &&NetRecord| {
        r.key.protocol == ip_proto::TCP
            && (r.key.local_port == server_port || r.key.remote_port == server_port)
            && r.kind == NetEventKind::Trace
    };
    // A socket's record without flags is its close: its final counters.
    let closed = |r: &NetRecord| r.kind == NetEventKind::Trace && r.tcp_flags == 0 && r.dir == NetDirection::Egress;
    let (records, source) = records_of(work, |rs| {
        // Both FINs reached the server side, and both sockets closed.
        let mine: Vec<_> = rs.iter().filter(mine).collect();
        mine.iter().any(|r| r.key.local_port == server_port && r.tcp_flags & FIN != 0)
            && mine.iter().filter(|r| closed(r)).count() == 2
    });
    let records: Vec<&NetRecord> = records.iter().filter(mine).collect();
    let client_key = FlowKey {
        protocol: ip_proto::TCP,
        local: localhost(),
        local_port: client_port.get(),
        remote: localhost(),
        remote_port: server_port,
    };
    let client: Vec<_> = records.iter().filter(|r| r.key == client_key).collect();
    let server: Vec<_> = records.iter().filter(|r| r.key.local_port == server_port).collect();
    // The client's first record is its SYN, leaving it; it opened the flow.
    let syn = client.first().expect("client records");
    assert_eq!((syn.dir, syn.tcp_flags, syn.origin), (NetDirection::Egress, SYN, Origin::Local));
    assert_eq!(syn.counts.packets_sent, 1);
    match &source.no_pids {
        None => assert_eq!(syn.pid, std::process::id(), "the connecting process"),
        Some(why) => assert_eq!(syn.pid, 0, "no pid: {why}"),
    }
    assert_ne!(syn.cgroup_id, 0);
    assert_ne!(syn.cookie, 0);
    // The server saw the SYN arrive: the remote side opened it.
    let srv_syn = server.first().expect("server records");
    assert_eq!((srv_syn.dir, srv_syn.tcp_flags, srv_syn.origin), (NetDirection::Ingress, SYN, Origin::Remote));
    assert_eq!(srv_syn.key.remote_port, client_port.get());
    // The SYN-ACK arrives at the client as a first ingress packet.
    assert!(client.iter().any(|r| r.dir == NetDirection::Ingress && r.tcp_flags == SYN | ACK));
    // The client's FIN carries its counts: 4 payload bytes sent, 5 received.
    let fin = client.iter().find(|r| r.dir == NetDirection::Egress && r.tcp_flags & FIN != 0).expect("client FIN");
    assert!(fin.counts.packets_sent >= 3, "{:?}", fin.counts);
    assert!(fin.counts.bytes_sent >= 3 * 40 + 4, "{:?}", fin.counts);
    assert!(fin.counts.bytes_received >= 2 * 40 + 5, "{:?}", fin.counts);
    // The close comes last, with the final counts: the server's FIN and its
    // ACK arrived after the client's FIN.
    let close = client.last().expect("client records");
    assert!(closed(close), "{close:?}");
    assert_eq!(close.counts.packets_sent, fin.counts.packets_sent + 1, "the last ACK: {:?}", close.counts);
    assert_eq!(close.counts.packets_received, fin.counts.packets_received + 1, "the server's FIN");
    assert_eq!(close.cookie, syn.cookie);
    // Nothing new after the handshake and before the FINs: no per-packet records.
    assert!(client.len() <= 5, "client records: {client:#?}");
    assert_eq!(source.counters().lost(), 0);
}

#[test]
fn a_closed_port_gives_a_drop_with_its_reason_and_resets() {
    require_root();
    // A port nothing listens on: bind, note the port, close.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let work = || {
        let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    };
    let mine =
        |r: &&NetRecord| r.key.protocol == ip_proto::TCP && (r.key.local_port == port || r.key.remote_port == port);
    let sent_resets_seen = scry_bpf::net::socketless_resets_traced().is_ok();
    let (records, source) = records_of(work, |rs| {
        let kinds: Vec<_> = rs.iter().filter(mine).map(|r| (r.kind, r.dir)).collect();
        kinds.contains(&(NetEventKind::Drop, NetDirection::Ingress))
            && kinds.contains(&(NetEventKind::Reset, NetDirection::Ingress))
            && (!sent_resets_seen || kinds.contains(&(NetEventKind::Reset, NetDirection::Egress)))
    });
    let records: Vec<&NetRecord> = records.iter().filter(mine).collect();
    let names = source.drop_reasons.as_ref().expect("drop reasons from BTF");
    let drop = records.iter().find(|r| r.kind == NetEventKind::Drop).expect("drop record");
    let reason = names.iter().find(|(v, _)| *v == drop.drop_reason).map(|(_, n)| n.as_str());
    assert_eq!(reason, Some("NO_SOCKET"));
    // The SYN was dropped where it arrived: the closed port is the local side.
    assert_eq!((drop.key.local_port, drop.tcp_flags, drop.dir), (port, SYN, NetDirection::Ingress));
    assert!(drop.len >= 40);
    // The host answered with a reset (no socket), and the client received it.
    let sent = records.iter().find(|r| r.kind == NetEventKind::Reset && r.dir == NetDirection::Egress);
    match &source.no_socketless_resets {
        None => assert_eq!(sent.map(|r| (r.key.local_port, r.cgroup_id)), Some((port, 0))),
        Some(why) => assert!(sent.is_none(), "not seen here: {why}"),
    }
    let received = records.iter().find(|r| r.kind == NetEventKind::Reset && r.dir == NetDirection::Ingress).unwrap();
    assert_eq!(received.key.remote_port, port);
    assert_ne!(received.cgroup_id, 0);
    // The client's socket saw the RST arrive.
    assert!(
        records
            .iter()
            .any(|r| r.kind == NetEventKind::Trace && r.dir == NetDirection::Ingress && r.tcp_flags & RST != 0)
    );
}

#[test]
fn a_udp_exchange_is_one_flow_each_side_with_its_origin() {
    require_root();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client_addr = client.local_addr().unwrap();
    let work = || {
        for _ in 0..3 {
            client.send_to(b"question", server_addr).unwrap();
            let mut buf = [0u8; 64];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
            client.recv_from(&mut buf).unwrap();
        }
    };
    let mine = |r: &&NetRecord| {
        r.key.protocol == ip_proto::UDP
            && [r.key.local_port, r.key.remote_port].contains(&server_addr.port())
            && [r.key.local_port, r.key.remote_port].contains(&client_addr.port())
    };
    let (records, _source) = records_of(work, |rs| rs.iter().filter(mine).count() >= 4);
    let records: Vec<&NetRecord> = records.iter().filter(mine).collect();
    let port_of = |a: SocketAddr| a.port();
    let view = |local: u16, dir| records.iter().filter(|r| r.key.local_port == local && r.dir == dir).count();
    // First packet each way on each side, then nothing until the periodic report.
    assert_eq!(view(port_of(client_addr), NetDirection::Egress), 1);
    assert_eq!(view(port_of(client_addr), NetDirection::Ingress), 1);
    assert_eq!(view(port_of(server_addr), NetDirection::Ingress), 1);
    assert_eq!(view(port_of(server_addr), NetDirection::Egress), 1);
    let first = records.iter().find(|r| r.key.local_port == client_addr.port()).unwrap();
    assert_eq!(first.origin, Origin::Local);
    let srv = records.iter().find(|r| r.key.local_port == server_addr.port()).unwrap();
    assert_eq!(srv.origin, Origin::Remote);
    assert_eq!(srv.len, 20 + 8 + 8);
}
