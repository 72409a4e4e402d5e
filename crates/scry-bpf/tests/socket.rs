//! Runs as root on the real kernel: the socket tracer sees a real TCP
//! exchange over loopback from both ends, with roles, addresses, stream
//! positions, protocol, chunked large writes and byte counts at close.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use scry_bpf::socket::{
    ConnId, DataRecord, Direction, Role, SocketRecord, SocketSource, SocketSourceConfig, decode, protocol,
};

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "these tests load BPF programs and must run as root");
}

/// Drains the ring until `done` says the records so far are enough (or 5 s pass).
fn collect(source: &SocketSource, done: impl Fn(&[SocketRecord]) -> bool) -> Vec<SocketRecord> {
    let records = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = records.clone();
    let me = std::process::id();
    let mut builder = libbpf_rs::RingBufferBuilder::new();
    builder
        .add(source.ring(), move |bytes: &[u8]| {
            let rec = decode(bytes).expect("record decodes");
            let tgid = match &rec {
                SocketRecord::Open(o) => o.id.tgid,
                SocketRecord::Close(c) | SocketRecord::Totals(c) => c.id.tgid,
                SocketRecord::Data(d) => d.id.tgid,
            };
            if tgid == me {
                sink.borrow_mut().push(rec);
            }
            0
        })
        .unwrap();
    let ring = builder.build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !done(&records.borrow()) {
        ring.poll(Duration::from_millis(50)).unwrap();
        ring.consume().unwrap();
    }
    records.take()
}

fn data_of(records: &[SocketRecord], fd: i32, dir: Direction) -> Vec<&DataRecord> {
    records
        .iter()
        .filter_map(|r| match r {
            SocketRecord::Data(d) if d.id.fd == fd as u32 && d.dir == dir => Some(d),
            _ => None,
        })
        .collect()
}

fn bytes_of(chunks: &[&DataRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        assert_eq!(c.pos as usize, out.len(), "chunks follow each other");
        out.extend_from_slice(&c.data);
    }
    out
}

#[test]
fn a_tcp_exchange_is_seen_from_both_ends() {
    require_root();
    let source = SocketSource::load(&SocketSourceConfig::default()).expect("socket tracer loads");
    assert!(source.missing.is_empty(), "tracepoints missing: {:?}", source.missing);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let request = b"GET /hello HTTP/1.1\r\nHost: scry\r\n\r\n".to_vec();
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".to_vec();
    let big: Vec<u8> = (0..40_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let post: Vec<u8> =
        [format!("POST /up HTTP/1.1\r\nContent-Length: {}\r\n\r\n", big.len()).as_bytes(), &big].concat();

    let (req_len, post_len) = (request.len(), post.len());
    let (response2, post2) = (response.clone(), post.clone());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; req_len];
        conn.read_exact(&mut buf).unwrap();
        conn.write_all(&response2).unwrap();
        let mut upload = vec![0u8; post_len];
        conn.read_exact(&mut upload).unwrap();
        assert_eq!(upload, post2);
        (conn.as_raw_fd(), conn)
    });
    let mut client = TcpStream::connect(server_addr).unwrap();
    let client_local = client.local_addr().unwrap();
    client.write_all(&request).unwrap();
    let mut got = vec![0u8; response.len()];
    client.read_exact(&mut got).unwrap();
    client.write_all(&post).unwrap();
    let (server_fd, server_conn) = server.join().unwrap();
    let client_fd = client.as_raw_fd();
    drop(client);
    drop(server_conn);

    let closes = |rs: &[SocketRecord]| rs.iter().filter(|r| matches!(r, SocketRecord::Close(_))).count();
    let records = collect(&source, |rs| closes(rs) >= 2);

    let open = |fd: i32| {
        records
            .iter()
            .find_map(|r| match r {
                SocketRecord::Open(o) if o.id.fd == fd as u32 => Some(o.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no open record for fd {fd}: {records:?}"))
    };
    let (c, s) = (open(client_fd), open(server_fd));
    assert_eq!((c.role, c.sock_type, c.mid_stream), (Role::Client, 1, false));
    assert_eq!((c.local, c.remote), (Some(client_local), Some(server_addr)));
    assert_eq!((s.role, s.local, s.remote), (Role::Server, Some(server_addr), Some(client_local)));

    let sent = data_of(&records, client_fd, Direction::Egress);
    assert_eq!(sent[0].data, request);
    assert_eq!((sent[0].pos, sent[0].msg_size, sent[0].protocol), (0, req_len as u32, protocol::HTTP));
    assert_eq!((sent[0].role, sent[0].truncated), (Role::Client, false));
    assert!(sent[0].ts > c.ts);
    // The 40 kB upload: one write, three chunks, nothing lost.
    assert_eq!(bytes_of(&sent), [request.clone(), post.clone()].concat());
    assert_eq!(sent.len(), 4, "the request, then the upload in three chunks");
    assert!(sent[1..].iter().all(|d| d.msg_size == post_len as u32 && !d.truncated));

    let received = data_of(&records, server_fd, Direction::Ingress);
    assert_eq!(bytes_of(&received), [request, post].concat());
    assert!(received.iter().all(|d| d.role == Role::Server && d.protocol == protocol::HTTP));
    assert_eq!(bytes_of(&data_of(&records, server_fd, Direction::Egress)), response);
    assert_eq!(bytes_of(&data_of(&records, client_fd, Direction::Ingress)), response);

    let close = |fd: i32| {
        records
            .iter()
            .find_map(|r| match r {
                SocketRecord::Close(x) if x.id.fd == fd as u32 => Some(x.clone()),
                _ => None,
            })
            .unwrap()
    };
    let (cc, sc) = (close(client_fd), close(server_fd));
    assert_eq!((cc.wr_bytes, cc.rd_bytes), ((req_len + post_len) as u64, response.len() as u64));
    assert_eq!((sc.wr_bytes, sc.rd_bytes), (response.len() as u64, (req_len + post_len) as u64));
    assert_eq!((cc.protocol, cc.id), (protocol::HTTP, c.id));
    let counters = source.counters();
    assert_eq!((counters.data_lost, counters.control_lost), (0, 0));
}

#[test]
fn disabled_connections_stop_copying_but_keep_counting() {
    require_root();
    let source = SocketSource::load(&SocketSourceConfig::default()).expect("socket tracer loads");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let mut total = 0;
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    let mut client = TcpStream::connect(addr).unwrap();
    let fd = client.as_raw_fd();
    client.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let first = collect(&source, |rs| rs.iter().any(|r| matches!(r, SocketRecord::Data(d) if d.id.fd == fd as u32)));
    let id: ConnId = match first.iter().find(|r| matches!(r, SocketRecord::Open(o) if o.id.fd == fd as u32)) {
        Some(SocketRecord::Open(o)) => o.id,
        _ => panic!("no open record: {first:?}"),
    };
    assert_eq!(data_of(&first, fd, Direction::Egress)[0].protocol, protocol::REDIS);
    source.disable(id).unwrap();
    client.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    drop(client);
    assert_eq!(server.join().unwrap(), 28);
    let rest = collect(&source, |rs| rs.iter().any(|r| matches!(r, SocketRecord::Close(c) if c.id == id)));
    assert!(data_of(&rest, fd, Direction::Egress).is_empty(), "no data after disable: {rest:?}");
    let close = rest.iter().find_map(|r| match r {
        SocketRecord::Close(c) if c.id == id => Some(c),
        _ => None,
    });
    assert_eq!(close.map(|c| c.wr_bytes), Some(28));
}

#[test]
fn connections_of_no_known_protocol_report_byte_totals_every_64_kib() {
    require_root();
    let source = SocketSource::load(&SocketSourceConfig::default()).expect("socket tracer loads");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 65536];
        while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_nodelay(true).unwrap();
    // Eight messages no signature matches (inference gives up), then 200 kB.
    let (junk, chunk, chunks) = (b"\x01\x02 no protocol", vec![b'x'; 10_000], 20);
    for _ in 0..8 {
        client.write_all(junk).unwrap();
    }
    for _ in 0..chunks {
        client.write_all(&chunk).unwrap();
    }
    let local = client.local_addr().unwrap();
    drop(client);
    server.join().unwrap();
    let head = 8 * junk.len() as u64;
    let total = head + (chunks * chunk.len()) as u64;
    // Tests run in parallel in this process and reuse fds: find this
    // connection's two ends by their addresses.
    let end = |rs: &[SocketRecord], role: Role| {
        rs.iter().find_map(|r| match r {
            SocketRecord::Open(o) if o.role == role && (o.local == Some(local) || o.remote == Some(local)) => {
                Some(o.id)
            }
            _ => None,
        })
    };
    let closed = |rs: &[SocketRecord], id: Option<ConnId>| {
        rs.iter().any(|r| matches!(r, SocketRecord::Close(c) if Some(c.id) == id))
    };
    let records = collect(&source, |rs| closed(rs, end(rs, Role::Client)) && closed(rs, end(rs, Role::Server)));
    let (client_id, server_id) = (end(&records, Role::Client).unwrap(), end(&records, Role::Server).unwrap());
    assert!(
        !records.iter().any(|r| matches!(r, SocketRecord::Data(d) if d.id == client_id || d.id == server_id)),
        "no data copied: {records:?}"
    );
    let totals = |id: ConnId| -> Vec<u64> {
        records
            .iter()
            .filter_map(|r| match r {
                SocketRecord::Totals(t) if t.id == id => Some(t.wr_bytes + t.rd_bytes),
                _ => None,
            })
            .collect()
    };
    // One report per 10 kB write that takes the count 64 KiB past the last.
    assert_eq!(totals(client_id), [head + 70_000, head + 140_000]);
    let close = records.iter().find_map(|r| match r {
        SocketRecord::Close(c) if c.id == client_id => Some(c.clone()),
        _ => None,
    });
    let close = close.expect("client close");
    assert_eq!((close.wr_bytes, close.rd_bytes, close.protocol), (total, 0, protocol::NONE));
    assert!(!totals(server_id).is_empty(), "the reader reports too");
}

#[test]
fn udp_datagrams_over_ipv6_carry_their_peer() {
    require_root();
    let source = SocketSource::load(&SocketSourceConfig::default()).expect("socket tracer loads");
    // A DNS query for example.com, A, as dig sends it.
    let query: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
    let server = std::net::UdpSocket::bind("[::1]:53").expect("port 53 on ::1 is free");
    let client = std::net::UdpSocket::bind("[::1]:0").unwrap();
    client.send_to(query, "[::1]:53").unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (query, client.local_addr().unwrap()));
    let (cfd, sfd) = (client.as_raw_fd(), server.as_raw_fd());
    let records = collect(&source, |rs| {
        !data_of(rs, cfd, Direction::Egress).is_empty() && !data_of(rs, sfd, Direction::Ingress).is_empty()
    });
    let sent = data_of(&records, cfd, Direction::Egress);
    assert_eq!((sent[0].data.as_slice(), sent[0].protocol), (query, protocol::DNS));
    assert_eq!(sent[0].peer, Some("[::1]:53".parse().unwrap()));
    let got = data_of(&records, sfd, Direction::Ingress);
    assert_eq!((got[0].data.as_slice(), got[0].peer), (query, Some(client.local_addr().unwrap())));
    let open = records.iter().find_map(|r| match r {
        SocketRecord::Open(o) if o.id.fd == cfd as u32 => Some(o),
        _ => None,
    });
    let open = open.expect("the client socket is seen at its first datagram");
    assert_eq!((open.sock_type, open.mid_stream, open.role), (2, true, Role::Unknown));
}
