//! Agent CPU per HTTP/1 request in the userspace pipeline, without the kernel or the network.
//!
//! `cargo bench -p spanwire --bench pipeline_cpu` builds the ring-buffer records a keep-alive
//! HTTP/1 load produces (wrk's request, the Go test server's response, 50 connections into
//! this process), then times each stage the agent runs on them: record decoding, the
//! processing stage (connection table, HTTP/1 parsing, span linking, RED metrics) and span
//! encoding into OTLP trace requests. It prints ns per request for each stage and a last line
//! `BENCH_PIPELINE {json}`. The allocator is mimalloc, as in the agent.
//!
//! This is the agent's share of `agent_cpu_us_per_req` in `integration/bench.sh` minus the
//! runtime, the ring-buffer wakeups and the OTLP transport (gRPC framing and the socket).

use std::sync::Arc;
use std::time::{Duration, Instant};

use spanwire::clock::{monotonic_ns, Clock};
use spanwire::conn::ProtoLimits;
use spanwire::ebpf::records::{decode, sys, RawEvent, HEADER_LEN};
use spanwire::export::batch::{requests as otlp_requests, Pending};
use spanwire::export::resource::ResourceCache;
use spanwire::metrics::red::{RedAggregator, RedConfig, RedRecorder, RpcSemconv};
use spanwire::pipeline::Processor;
use spanwire::signals::traces::SpanEncoder;
use spanwire::signals::Telemetry;
use spanwire::stats::Stats;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNS: u64 = 50;
const BATCH: usize = 1024;
const SPANS_PER_EXPORT: usize = 1024;

const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain; charset=utf-8\r\n\
Date: Tue, 24 Nov 2026 12:00:00 GMT\r\n\r\nhello\n";

/// This process's start in ns since boot, as the kernel reports it (`/proc/self/stat` field 22).
fn start_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    let ticks: u64 = after_comm.split(' ').nth(19).and_then(|t| t.parse().ok()).expect("starttime");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    ticks * (1_000_000_000 / hz)
}

fn record(kind: u32, conn: u64, ingress: bool, ts: u64, payload: &[u8], start: u64) -> Vec<u8> {
    // SAFETY: sw_event is plain old data; all-zero is a valid value.
    let mut h: sys::sw_event = unsafe { std::mem::zeroed() };
    h.kind = kind as u8;
    h.direction = if ingress { sys::sw_direction_SW_DIR_INGRESS } else { sys::sw_direction_SW_DIR_EGRESS } as u8;
    h.pid = std::process::id();
    h.tid = std::process::id() + 1 + conn as u32 % 4;
    h.fd = 10 + conn as i32;
    h.sock_id = 0xffff_8880_0000_0000 + conn * 4096;
    h.enter_ns = ts;
    h.exit_ns = ts + 100;
    h.ret = payload.len() as i64;
    h.start_ns = start;
    h.captured = payload.len() as u32;
    for (d, s) in h.comm.iter_mut().zip(b"gohttp") {
        *d = *s as std::os::raw::c_char;
    }
    h.tuple.family = libc::AF_INET as u16;
    h.tuple.local_addr[..4].copy_from_slice(&[127, 0, 0, 1]);
    h.tuple.remote_addr[..4].copy_from_slice(&[127, 0, 0, 1]);
    h.tuple.local_port = 18080;
    h.tuple.remote_port = 40000 + conn as u16;
    let mut out = vec![0u8; HEADER_LEN + payload.len()];
    // SAFETY: the buffer holds HEADER_LEN bytes for the header; write_unaligned has no alignment needs.
    unsafe { std::ptr::write_unaligned(out.as_mut_ptr().cast::<sys::sw_event>(), h) };
    out[HEADER_LEN..].copy_from_slice(payload);
    out
}

#[derive(Default)]
struct Times {
    decode: Duration,
    process: Duration,
    encode: Duration,
    assemble: Duration,
    spans: usize,
    bytes: usize,
}

fn round(records: &[Vec<u8>], start: u64) -> Times {
    let stats = Arc::new(Stats::default());
    let red = Arc::new(RedRecorder::new(RedAggregator::new(
        RedConfig { series_cap: 1000, rpc_semconv: RpcSemconv::New },
        stats.clone(),
    )));
    let mut processor =
        Processor::new(10_000, ProtoLimits::default(), Duration::from_secs(300), stats.clone(), None, None)
            .with_metrics(Some(red));
    let encoder = SpanEncoder::new(RpcSemconv::New);
    let clock = Clock::default();
    let mut pending = Pending::default();
    let mut resources = ResourceCache::new("bench-node".into());
    let mut t = Times::default();
    let _ = start;
    for chunk in records.chunks(BATCH) {
        let t0 = Instant::now();
        let batch: Vec<RawEvent> = chunk.iter().map(|r| decode(r).expect("valid record")).collect();
        let t1 = Instant::now();
        let out = processor.process_batch(batch);
        let t2 = Instant::now();
        for item in out {
            if let Telemetry::Span(_) = item {
                t.spans += 1;
            }
            pending.push(item, &encoder, &clock);
        }
        let t3 = Instant::now();
        let mut t4 = t3;
        if pending.len() >= SPANS_PER_EXPORT {
            let r = otlp_requests(pending.take(), &mut resources);
            t.bytes += r.traces.as_ref().map_or(0, |(b, _)| b.len());
            t4 = Instant::now();
        }
        t.decode += t1 - t0;
        t.process += t2 - t1;
        t.encode += t3 - t2;
        t.assemble += t4 - t3;
    }
    if t.spans * 2 != records.len() - CONNS as usize {
        eprintln!("{}", stats.summary_line());
    }
    t
}

/// `SPANWIRE_BENCH_REQUESTS` / `SPANWIRE_BENCH_ROUNDS` override the defaults (100 000 and 9),
/// e.g. to count instructions under `valgrind --tool=callgrind` in a reasonable time.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let requests = env_or("SPANWIRE_BENCH_REQUESTS", 100_000);
    let rounds = env_or("SPANWIRE_BENCH_ROUNDS", 9);
    let start = start_ns();
    // All events are older than the processing stage's reorder window.
    let base = monotonic_ns() - 100_000_000_000;
    let mut records = Vec::with_capacity(requests * 2 + CONNS as usize);
    for conn in 0..CONNS {
        records.push(record(sys::sw_event_kind_SW_EVENT_ACCEPT, conn, true, base - 1_000_000 + conn, b"", start));
    }
    for i in 0..requests {
        let conn = i as u64 % CONNS;
        let ts = base + i as u64 * 400;
        records.push(record(sys::sw_event_kind_SW_EVENT_DATA, conn, true, ts, REQUEST, start));
        records.push(record(sys::sw_event_kind_SW_EVENT_DATA, conn, false, ts + 150, RESPONSE, start));
    }
    // Each stage's fastest round: the machine's noise only ever adds time.
    let mut t = Times {
        decode: Duration::MAX,
        process: Duration::MAX,
        encode: Duration::MAX,
        assemble: Duration::MAX,
        ..Times::default()
    };
    for _ in 0..rounds {
        let r = round(&records, start);
        assert_eq!(r.spans, requests, "every request becomes one span");
        t.decode = t.decode.min(r.decode);
        t.process = t.process.min(r.process);
        t.encode = t.encode.min(r.encode);
        t.assemble = t.assemble.min(r.assemble);
        (t.spans, t.bytes) = (r.spans, r.bytes);
    }
    let per = |d: Duration| d.as_nanos() as f64 / requests as f64;
    let total = per(t.decode) + per(t.process) + per(t.encode) + per(t.assemble);
    println!("pipeline_cpu: {requests} HTTP/1 requests on {CONNS} connections, fastest of {rounds} rounds per stage");
    println!("  stage                         ns/request");
    println!("  decode ring records           {:>10.0}", per(t.decode));
    println!("  process (parse, link, RED)    {:>10.0}", per(t.process));
    println!("  encode spans                  {:>10.0}", per(t.encode));
    println!("  assemble OTLP requests        {:>10.0}", per(t.assemble));
    println!("  total                         {total:>10.0}");
    println!("  OTLP bytes per span           {:>10.0}", t.bytes as f64 / t.spans as f64);
    println!(
        "BENCH_PIPELINE {{\"requests\":{requests},\"decode_ns\":{:.0},\"process_ns\":{:.0},\"encode_ns\":{:.0},\"assemble_ns\":{:.0},\"total_ns\":{total:.0}}}",
        per(t.decode),
        per(t.process),
        per(t.encode),
        per(t.assemble)
    );
}
