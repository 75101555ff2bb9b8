//! Memory of the Kubernetes metadata with thousands of pods: what the reflector stores keep
//! (`PodLite` stripped by `strip::pod`) plus the lookup snapshot, measured with a counting
//! global allocator, against k8s-openapi `Pod`s as a naive reflector would keep them. Prints
//! a table; fails when the per-pod cost exceeds the bound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use spanwire::decorate::k8s::objects::PodLite;
use spanwire::decorate::k8s::store::{Objects, Snapshot};
use spanwire::decorate::k8s::strip::{self, PodDetail};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const FIXTURE: &str = include_str!("fixtures/k8s/pod-checkout.json");
/// Pods on this node (kubelet's default maximum) and in the whole cluster.
const NODE_PODS: usize = 110;
const CLUSTER_PODS: usize = 5000;
const MAX_BYTES_PER_CLUSTER_POD: usize = 2304;
const MAX_BYTES_PER_NODE_POD: usize = 3072;

/// The fixture pod made unique: name, uid, IPs and container ids.
fn pod_json(i: usize) -> String {
    let text = FIXTURE
        .replace("checkout-7d9c6b5f4-x2k8p", &format!("checkout-7d9c6b5f4-{i:05}"))
        .replace("5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", &format!("5f1c2a3b-4d5e-4f60-8a7b-{i:012}"))
        .replace("10.244.1.17", &format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256))
        .replace("fd00:10:244:1::11", &format!("fd00:10:244::{i:x}"))
        .replace("7c2ef4ab5d6a6e0c3b1f0d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b", &format!("{i:064x}"))
        .replace(
            "1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e",
            &format!("{:064x}", i + 1_000_000),
        );
    text
}

fn pod(i: usize) -> PodLite {
    serde_json::from_str(&pod_json(i)).expect("fixture")
}

fn live() -> usize {
    LIVE.load(Ordering::Relaxed).max(0) as usize
}

fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = live();
    let v = f();
    (v, live().saturating_sub(before))
}

#[test]
fn metadata_memory_with_thousands_of_pods() {
    let (full, full_bytes) = measure(|| {
        (0..NODE_PODS)
            .map(|i| Arc::new(serde_json::from_str::<Pod>(&pod_json(i)).expect("fixture")))
            .collect::<Vec<_>>()
    });
    drop(full);
    let (node, node_bytes) = measure(|| {
        (0..NODE_PODS)
            .map(|i| {
                let mut p = pod(i);
                strip::pod(&mut p, PodDetail::Local);
                Arc::new(p)
            })
            .collect::<Vec<_>>()
    });
    let (peers, peer_bytes) = measure(|| {
        (0..CLUSTER_PODS)
            .map(|i| {
                let mut p = pod(i);
                strip::pod(&mut p, PodDetail::Peer);
                Arc::new(p)
            })
            .collect::<Vec<_>>()
    });
    let (snapshot, snapshot_bytes) =
        measure(|| Snapshot::build(&Objects { node_pods: &node, peer_pods: &peers, ..Objects::default() }));
    assert_eq!(snapshot.pods(), CLUSTER_PODS, "every pod indexed");

    let per = |bytes: usize, n: usize| bytes / n;
    eprintln!("| what                                    | pods  | bytes      | bytes/pod |");
    eprintln!("|-----------------------------------------|-------|------------|-----------|");
    for (what, n, bytes) in [
        ("node pods, k8s-openapi Pod (comparison)", NODE_PODS, full_bytes),
        ("node pods, stripped (reflector store)", NODE_PODS, node_bytes),
        ("cluster pods, stripped (peer store)", CLUSTER_PODS, peer_bytes),
        ("lookup snapshot (all pods indexed)", CLUSTER_PODS, snapshot_bytes),
    ] {
        eprintln!("| {what:<39} | {n:>5} | {bytes:>10} | {:>9} |", per(bytes, n));
    }
    let total = node_bytes + peer_bytes + snapshot_bytes;
    eprintln!("total with {CLUSTER_PODS} cluster pods: {:.1} MiB", total as f64 / (1 << 20) as f64);
    assert!(per(node_bytes, NODE_PODS) * 5 < per(full_bytes, NODE_PODS), "stripping must shrink pods a lot");
    assert!(per(node_bytes, NODE_PODS) < MAX_BYTES_PER_NODE_POD, "node pod: {}", per(node_bytes, NODE_PODS));
    let cluster = per(peer_bytes + snapshot_bytes, CLUSTER_PODS);
    assert!(cluster < MAX_BYTES_PER_CLUSTER_POD, "store + index per cluster pod: {cluster} bytes");
}
