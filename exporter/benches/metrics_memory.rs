//! Memory and collection cost of the RED aggregator with many services and routes.
//!
//! `cargo bench -p spanwire --bench metrics_memory` prints a table: heap bytes held by the
//! aggregator (counted by a wrapping global allocator, so the number is exact, not RSS
//! noise), bytes per series, and the time to record, collect and encode one export.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use opentelemetry_sdk::Resource;
use spanwire::decorate::process::ProcessInfo;
use spanwire::ebpf::records::Pid;
use spanwire::metrics::otlp::{encode, MAX_POINTS_PER_REQUEST};
use spanwire::metrics::red::{RedAggregator, RedConfig, RpcSemconv};
use spanwire::metrics::sample::{RequestSample, SampleKind};
use spanwire::metrics::{Collection, Temporality};
use spanwire::request::Role;
use spanwire::signals::route::route_of;
use spanwire::stats::Stats;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERVICES: u32 = 1000;
const ROUTES: u32 = 50;

fn main() {
    let processes: Vec<Arc<ProcessInfo>> = (0..SERVICES)
        .map(|i| {
            Arc::new(ProcessInfo {
                pid: Pid(10_000 + i),
                exe_name: format!("svc-{i}"),
                service_name: format!("svc-{i}"),
                start_ticks: 1,
                container: None,
                env: Default::default(),
                pod: None,
                resource: Resource::builder_empty().with_service_name(format!("svc-{i}")).build(),
            })
        })
        .collect();
    let routes: Vec<Arc<str>> =
        (0..ROUTES).map(|r| route_of(&format!("/api/resource-{r}/items/{}", r * 7919)).0.into()).collect();
    let stats = Arc::new(Stats::default());
    let cfg = RedConfig { series_cap: 1000, rpc_semconv: RpcSemconv::New };

    let before = LIVE.load(Ordering::Relaxed);
    let mut agg = RedAggregator::new(cfg, stats);
    let start = Instant::now();
    let mut samples = 0u64;
    for round in 0..4 {
        for p in &processes {
            for route in &routes {
                let s = RequestSample {
                    role: Role::Server,
                    kind: SampleKind::Http {
                        method: "GET",
                        status_code: Some(200),
                        route: Some(route.clone()),
                        protocol_version: "1.1",
                        scheme: "http",
                    },
                    error_type: None,
                    duration_s: 0.001 * f64::from(round + 1),
                    request_bytes: 0,
                    response_bytes: 512,
                    server_address: Arc::from("127.0.0.1"),
                    server_port: 8080,
                    process: p.clone(),
                };
                agg.record(&s, 0);
                samples += 1;
            }
        }
    }
    let record_ns = start.elapsed().as_nanos() as f64 / samples as f64;
    let held = LIVE.load(Ordering::Relaxed) - before;
    let series = agg.series();

    let start = Instant::now();
    let snapshot = agg.snapshot(1, Temporality::Cumulative, |_| true);
    let locked_ms = start.elapsed().as_secs_f64() * 1e3;
    let resources = snapshot.build();
    let collect_ms = start.elapsed().as_secs_f64() * 1e3;
    let collection = Collection { time_unix_ns: 1, temporality: Temporality::Cumulative, resources };
    let start = Instant::now();
    let requests = encode(&collection, MAX_POINTS_PER_REQUEST);
    let encode_ms = start.elapsed().as_secs_f64() * 1e3;
    let wire: usize = requests.iter().map(|(r, _)| prost::Message::encoded_len(r)).sum();

    println!("RED aggregator: {SERVICES} services x {ROUTES} routes (HTTP server, 3 histograms per series)");
    println!("{:<34} {:>14}", "metric", "value");
    println!("{:<34} {:>14}", "series (attribute sets)", series);
    println!("{:<34} {:>14}", "data points per export", collection.points());
    println!("{:<34} {:>14.1}", "aggregator heap (MiB)", held as f64 / (1 << 20) as f64);
    println!("{:<34} {:>14.0}", "heap bytes per series", held as f64 / series as f64);
    println!("{:<34} {:>14.0}", "record (ns/sample)", record_ns);
    println!("{:<34} {:>14.1}", "snapshot under the lock (ms)", locked_ms);
    println!("{:<34} {:>14.1}", "collect incl. snapshot (ms)", collect_ms);
    println!("{:<34} {:>14.1}", "encode (ms)", encode_ms);
    println!("{:<34} {:>14}", "export requests", requests.len());
    println!("{:<34} {:>14.1}", "protobuf on the wire (MiB)", wire as f64 / (1 << 20) as f64);
    println!(
        "BENCH_METRICS_MEMORY {{\"services\":{SERVICES},\"routes\":{ROUTES},\"series\":{series},\"heap_bytes\":{held},\"record_ns\":{record_ns:.0},\"locked_ms\":{locked_ms:.1},\"collect_ms\":{collect_ms:.1},\"encode_ms\":{encode_ms:.1},\"wire_bytes\":{wire}}}"
    );
}
