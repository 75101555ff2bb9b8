//! Which server request a thread's client call (or log line) belongs to — only when that is
//! unambiguous.
//!
//! Per process, the agent keeps the server requests in flight (head read, response not yet
//! written) and the thread that read each one. A call made by thread T links to:
//! - the process's only request in flight, whichever thread reads or writes (Go goroutines
//!   and async tasks move between threads, but with one request in flight there is nothing
//!   else they could be serving);
//! - otherwise T's only request in flight, but only in a process whose threads have shown,
//!   under concurrency, that each serves one request at a time, start to finish
//!   ([`Threads::affine`]);
//! - otherwise nothing: the call is [`Lookup::Ambiguous`] and starts its own trace. A wrong
//!   parent would merge unrelated requests into one trace; a missing one only splits it.

use crate::fast_map::FastMap;

use super::SpanIds;
use crate::ebpf::records::Pid;

/// Requests a process must have completed on the thread that started them while another
/// server request was in flight (and none on another thread) before its threads are trusted
/// to mean "one request each". Only concurrent completions count: one request at a time, Go
/// and tokio tasks often stay on one thread (a Go server was seen completing 158 sequential
/// requests on their reading threads, then moving them as soon as it got concurrent ones).
pub const AFFINE_MIN: u32 = 8;
/// In-flight requests tracked per process; more only keep it ambiguous.
const MAX_OPEN: usize = 256;

/// The outcome of looking up the server request a thread is serving.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// The process serves nothing.
    Idle,
    /// The process's only request in flight.
    Process(&'a SpanIds),
    /// The thread's only request in flight, in a thread-per-request process.
    Thread(&'a SpanIds),
    /// Several requests in flight could own the call: none is chosen.
    Ambiguous,
}

impl<'a> Lookup<'a> {
    pub fn parent(self) -> Option<&'a SpanIds> {
        match self {
            Lookup::Process(ids) | Lookup::Thread(ids) => Some(ids),
            Lookup::Idle | Lookup::Ambiguous => None,
        }
    }
}

/// What a process's threads have shown about how they serve requests. Any sign that a
/// request is not served by one thread alone turns thread linking off for the process for
/// good: its threads are not a reliable identity for requests.
#[derive(Debug, Default, Clone, Copy)]
struct Threads {
    /// Requests (server and client) completed by the thread that started them while
    /// another server request was in flight.
    same: u32,
    /// A request completed by another thread than the one that started it (goroutines,
    /// executors), or a thread started a server request while serving another (event loops,
    /// Go's netpoller, pipelining).
    shared: bool,
}

impl Threads {
    fn share(&mut self, pid: Pid, why: &'static str) {
        if !self.shared {
            tracing::debug!(pid = pid.0, why, requests_by_one_thread = self.same, "thread linking off");
        }
        self.shared = true;
    }

    fn affine(self) -> bool {
        !self.shared && self.same >= AFFINE_MIN
    }
}

#[derive(Debug, Default)]
struct Process {
    /// Server requests in flight: the thread that read each head, and its span ids.
    open: Vec<(u32, SpanIds)>,
    /// Requests in flight beyond `MAX_OPEN`, not tracked.
    untracked: usize,
    threads: Threads,
}

impl Process {
    fn in_flight(&self) -> usize {
        self.open.len() + self.untracked
    }
}

/// Whether a process's threads cannot identify requests whatever they show (a Go program).
pub type ThreadsMove = Box<dyn Fn(Pid) -> bool + Send>;

/// The server requests in flight in each process.
pub struct Serving {
    procs: FastMap<Pid, Process>,
    max_procs: usize,
    threads_move: ThreadsMove,
}

impl Serving {
    pub fn new(max_procs: usize) -> Self {
        Serving { procs: FastMap::default(), max_procs, threads_move: Box::new(|_| false) }
    }

    /// Asks `threads_move` about each process when it starts serving.
    pub fn with_threads_move(self, threads_move: ThreadsMove) -> Self {
        Serving { threads_move, ..self }
    }

    /// Server requests in flight, over all processes.
    pub fn in_flight(&self) -> usize {
        self.procs.values().map(Process::in_flight).sum()
    }

    /// The server request a call made by thread `tid` of `pid` belongs to.
    pub fn lookup(&self, pid: Pid, tid: u32) -> Lookup<'_> {
        let Some(p) = self.procs.get(&pid) else { return Lookup::Idle };
        match (p.in_flight(), p.open.first()) {
            (0, _) => Lookup::Idle,
            (1, Some((_, ids))) => Lookup::Process(ids),
            _ if p.threads.affine() => {
                let mut mine = p.open.iter().filter(|(t, _)| *t == tid);
                match (mine.next(), mine.next()) {
                    (Some((_, ids)), None) => Lookup::Thread(ids),
                    _ => Lookup::Ambiguous,
                }
            }
            _ => Lookup::Ambiguous,
        }
    }

    /// Thread `tid` of `pid` read the head of a server request.
    pub fn started(&mut self, pid: Pid, tid: u32, ids: &SpanIds) {
        let Some(p) = self.process(pid) else { return };
        if p.open.iter().any(|(t, _)| *t == tid) {
            p.threads.share(pid, "a thread read a request while serving another");
        }
        if p.open.len() < MAX_OPEN {
            p.open.push((tid, ids.clone()));
        } else {
            p.untracked += 1;
        }
    }

    /// The server request `ids` of `pid` was answered (or dropped).
    pub fn finished(&mut self, pid: Pid, ids: &SpanIds) {
        let Some(p) = self.procs.get_mut(&pid) else { return };
        match p.open.iter().position(|(_, o)| o.span_id == ids.span_id) {
            Some(i) => {
                p.open.swap_remove(i);
            }
            None => p.untracked = p.untracked.saturating_sub(1),
        }
    }

    /// A request (server or client) of `pid` started by thread `started` was completed by
    /// thread `finished`: evidence of how the process uses threads. Called before a server
    /// request's [`Serving::finished`], so "concurrent" means two server requests in flight:
    /// this one (or the one this client request is made for) and another.
    pub fn completed_by(&mut self, pid: Pid, started: u32, finished: u32) {
        let Some(p) = self.procs.get_mut(&pid) else { return };
        if started == finished && p.in_flight() >= 2 {
            p.threads.same = p.threads.same.saturating_add(1);
            if p.threads.same == AFFINE_MIN && !p.threads.shared {
                tracing::debug!(pid = pid.0, "threads serve one request each: thread linking on");
            }
        } else if started != finished {
            p.threads.share(pid, "a request was completed by another thread than the one that started it");
        }
    }

    /// Forgets the processes `alive` says have exited (a reused pid starts over, untrusted).
    pub fn retain_processes(&mut self, alive: impl Fn(Pid) -> bool) {
        self.procs.retain(|pid, _| alive(*pid));
    }

    /// The process's entry, made room for by forgetting idle processes (and what their
    /// threads showed: they start over as untrusted); `None` when every tracked process is busy.
    fn process(&mut self, pid: Pid) -> Option<&mut Process> {
        if !self.procs.contains_key(&pid) && self.procs.len() >= self.max_procs {
            self.procs.retain(|_, p| p.in_flight() > 0);
            if self.procs.len() >= self.max_procs {
                return None;
            }
        }
        let threads_move = &self.threads_move;
        Some(self.procs.entry(pid).or_insert_with(|| {
            let mut p = Process::default();
            if threads_move(pid) {
                p.threads.share(pid, "its runtime moves requests between threads (Go)");
            }
            p
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    fn ids(n: u64) -> SpanIds {
        SpanIds {
            trace_id: TraceId::from(u128::from(n)),
            span_id: SpanId::from(n),
            parent_span_id: SpanId::INVALID,
            parent_is_remote: false,
            flags: TraceFlags::SAMPLED,
            trace_state: TraceState::default(),
        }
    }

    const P: Pid = Pid(10);

    /// `AFFINE_MIN` requests, two at a time, each served start to finish by its own thread.
    fn thread_per_request(s: &mut Serving) {
        for n in (0..u64::from(AFFINE_MIN)).step_by(2) {
            let (a, b) = (100 + n as u32, 101 + n as u32);
            s.started(P, a, &ids(1000 + n));
            s.started(P, b, &ids(1001 + n));
            s.completed_by(P, a, a);
            s.completed_by(P, a, a);
            s.finished(P, &ids(1000 + n));
            s.completed_by(P, b, b);
            s.finished(P, &ids(1001 + n));
        }
    }

    #[test]
    fn one_request_in_flight_owns_every_thread() {
        let mut s = Serving::new(8);
        assert_eq!(s.lookup(P, 1), Lookup::Idle);
        s.started(P, 1, &ids(1));
        assert_eq!(s.lookup(P, 1), Lookup::Process(&ids(1)));
        assert_eq!(s.lookup(P, 2), Lookup::Process(&ids(1)), "a goroutine that moved to another thread");
        assert_eq!(s.lookup(Pid(11), 1), Lookup::Idle);
        s.finished(P, &ids(1));
        assert_eq!(s.lookup(P, 1), Lookup::Idle);
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn threads_are_trusted_only_after_serving_one_request_each_start_to_finish() {
        let mut s = Serving::new(8);
        for n in 0..100 {
            s.started(P, 1, &ids(n));
            s.completed_by(P, 1, 1);
            s.completed_by(P, 1, 1);
            s.finished(P, &ids(n));
        }
        s.started(P, 1, &ids(1));
        s.started(P, 2, &ids(2));
        assert_eq!(s.lookup(P, 1), Lookup::Ambiguous, "one request at a time proves nothing");
        s.finished(P, &ids(1));
        s.finished(P, &ids(2));
        thread_per_request(&mut s);
        s.started(P, 1, &ids(1));
        s.started(P, 2, &ids(2));
        assert_eq!(s.lookup(P, 1), Lookup::Thread(&ids(1)));
        assert_eq!(s.lookup(P, 2), Lookup::Thread(&ids(2)));
        assert_eq!(s.lookup(P, 3), Lookup::Ambiguous, "a pool thread serving neither");
    }

    #[test]
    fn a_request_completed_by_another_thread_turns_thread_linking_off() {
        let mut s = Serving::new(8);
        thread_per_request(&mut s);
        s.completed_by(P, 7, 8);
        s.started(P, 1, &ids(1));
        s.started(P, 2, &ids(2));
        assert_eq!(s.lookup(P, 1), Lookup::Ambiguous);
        thread_per_request(&mut s);
        assert_eq!(s.lookup(P, 1), Lookup::Ambiguous, "for good");
    }

    #[test]
    fn a_thread_reading_a_second_request_turns_thread_linking_off() {
        let mut s = Serving::new(8);
        thread_per_request(&mut s);
        s.started(P, 1, &ids(1));
        s.started(P, 1, &ids(2));
        s.started(P, 2, &ids(3));
        assert_eq!(s.lookup(P, 1), Lookup::Ambiguous);
        assert_eq!(s.lookup(P, 2), Lookup::Ambiguous, "an event loop or netpoller: no thread is trusted");
    }

    #[test]
    fn a_runtime_known_to_move_requests_is_never_trusted() {
        let mut s = Serving::new(8).with_threads_move(Box::new(|pid| pid == P));
        thread_per_request(&mut s);
        s.started(P, 1, &ids(1));
        s.started(P, 2, &ids(2));
        assert_eq!(s.lookup(P, 1), Lookup::Ambiguous);
        s.finished(P, &ids(2));
        assert_eq!(s.lookup(P, 2), Lookup::Process(&ids(1)), "one in flight still links");
    }

    #[test]
    fn bounded_requests_per_process_and_processes() {
        let mut s = Serving::new(2);
        for n in 0..MAX_OPEN as u64 + 2 {
            s.started(P, 1, &ids(n));
        }
        for n in 0..MAX_OPEN as u64 {
            s.finished(P, &ids(n));
        }
        assert_eq!(s.lookup(P, 1), Lookup::Ambiguous, "two untracked requests are still in flight");
        s.finished(P, &ids(u64::MAX));
        s.finished(P, &ids(u64::MAX));
        assert_eq!(s.lookup(P, 1), Lookup::Idle);
        s.started(Pid(11), 1, &ids(1));
        s.started(Pid(12), 1, &ids(2));
        assert_eq!(s.lookup(Pid(12), 1), Lookup::Process(&ids(2)), "the idle process made room");
        s.started(Pid(13), 1, &ids(3));
        assert_eq!(s.lookup(Pid(13), 1), Lookup::Idle, "all busy: not tracked");
        assert_eq!(s.in_flight(), 2);
        s.retain_processes(|pid| pid != Pid(12));
        assert_eq!((s.lookup(Pid(12), 1), s.in_flight()), (Lookup::Idle, 1), "an exited process is forgotten");
    }
}
