//! The pool of blocking threads that does all the server's file-system
//! work, so that a slow or hung file system never stops an event loop.
//!
//! A task has a deadline and, optionally, a key (the file name it looks
//! up). The pool keeps a few threads and starts more, up to a cap, when a
//! task arrives and none is idle: threads stuck on a hung file system do
//! not stop the others' work until the cap is reached. Threads above the
//! minimum leave after a while without work. Two rules bound what a hung
//! file system can hold:
//!
//! - a task still queued at its deadline is dropped without running (its
//!   requester gave up on it by then);
//! - a task whose key a running task has been stuck on past its deadline
//!   is not run either: one hung name holds one thread, however often it
//!   is asked for.
//!
//! A task that is not run is told so (its `ran` argument is `false`), so
//! that it can answer its requester at once.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long a thread above the minimum waits for work before leaving.
const IDLE_EXIT: Duration = Duration::from_secs(30);

/// Stack of each pool thread: file-system calls and small buffers.
const STACK: usize = 256 * 1024;

type Work = Box<dyn FnOnce(bool) + Send>;

struct Task {
    work: Work,
    key: Option<Box<str>>,
    deadline: Instant,
}

/// A task running now.
struct Running {
    id: u64,
    key: Option<Box<str>>,
    deadline: Instant,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Task>,
    running: Vec<Running>,
    threads: usize,
    idle: usize,
    next_id: u64,
    /// No more tasks will come: threads leave once the queue is empty.
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    work: Condvar,
    min: usize,
    max: usize,
}

/// A pool of blocking threads (see the module docs). Cloning shares it.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("min", &self.inner.min)
            .field("max", &self.inner.max)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool that keeps `min` threads once started and grows to `max`.
    pub fn new(min: usize, max: usize) -> Pool {
        let max = max.max(1);
        Pool {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                min: min.min(max),
                max,
            }),
        }
    }

    /// The most threads it runs.
    pub fn max_threads(&self) -> usize {
        self.inner.max
    }

    /// Threads running now (busy or idle).
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        self.inner.lock().threads
    }

    /// Lets the threads go once the queued tasks are done (the server that
    /// owned the pool stopped); tasks submitted after are not run.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.inner.work.notify_all();
    }

    /// Runs `work(true)` on a pool thread by `deadline`; or calls
    /// `work(false)` (on this thread or a pool thread) if it cannot be run
    /// by then, or if a task with the same `key` has been stuck past its
    /// own deadline.
    pub fn submit(
        &self,
        key: Option<&str>,
        deadline: Instant,
        work: impl FnOnce(bool) + Send + 'static,
    ) {
        let now = Instant::now();
        let mut state = self.inner.lock();
        if state.closed {
            drop(state);
            work(false);
            return;
        }
        let stuck = key.is_some_and(|key| {
            state
                .running
                .iter()
                .any(|r| r.deadline <= now && r.key.as_deref() == Some(key))
        });
        if stuck {
            drop(state);
            work(false);
            return;
        }
        // Tasks queued past their deadline go now, not when a thread is
        // free: threads may all be stuck.
        let mut expired = Vec::new();
        while state.queue.front().is_some_and(|t| t.deadline <= now) {
            expired.extend(state.queue.pop_front());
        }
        state.queue.push_back(Task {
            work: Box::new(work),
            key: key.map(Into::into),
            deadline,
        });
        if state.idle == 0 && state.threads < self.inner.max {
            state.threads += 1;
            let inner = Arc::clone(&self.inner);
            let spawned = thread::Builder::new()
                .name("hftp-fs".into())
                .stack_size(STACK)
                .spawn(move || inner.serve());
            if let Err(e) = spawned {
                state.threads -= 1;
                tracing::warn!("cannot start a file-system thread: {e}");
            }
        } else {
            self.inner.work.notify_one();
        }
        drop(state);
        for task in expired {
            (task.work)(false);
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Tasks run outside the lock: a poisoned state is still whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pool thread: runs tasks until it has been idle for [`IDLE_EXIT`]
    /// with more than the minimum of threads running.
    fn serve(self: Arc<Self>) {
        let mut state = self.lock();
        loop {
            let Some(task) = state.queue.pop_front() else {
                if state.closed {
                    state.threads -= 1;
                    return;
                }
                state.idle += 1;
                let (next, timeout) = self
                    .work
                    .wait_timeout(state, IDLE_EXIT)
                    .unwrap_or_else(|p| p.into_inner());
                state = next;
                state.idle -= 1;
                if timeout.timed_out() && state.queue.is_empty() && state.threads > self.min {
                    state.threads -= 1;
                    return;
                }
                continue;
            };
            let now = Instant::now();
            let stuck = task.key.as_deref().is_some_and(|key| {
                state
                    .running
                    .iter()
                    .any(|r| r.deadline <= now && r.key.as_deref() == Some(key))
            });
            if task.deadline <= now || stuck {
                drop(state);
                (task.work)(false);
                state = self.lock();
                continue;
            }
            let id = state.next_id;
            state.next_id += 1;
            state.running.push(Running {
                id,
                key: task.key,
                deadline: task.deadline,
            });
            drop(state);
            (task.work)(true);
            state = self.lock();
            state.running.retain(|r| r.id != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const LONG: Duration = Duration::from_secs(10);

    /// A gate a task can wait at until the test opens it.
    #[derive(Clone, Default)]
    struct Gate(Arc<(Mutex<bool>, Condvar)>);

    impl Gate {
        fn wait(&self) {
            let (open, cv) = &*self.0;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        }
        fn open(&self) {
            let (open, cv) = &*self.0;
            *open.lock().unwrap() = true;
            cv.notify_all();
        }
    }

    #[test]
    fn a_stuck_task_does_not_stop_the_others_and_the_pool_grows_to_its_cap() {
        let pool = Pool::new(1, 3);
        let gate = Gate::default();
        let (tx, rx) = mpsc::channel();
        for i in 0..2 {
            let (gate, tx) = (gate.clone(), tx.clone());
            let key = format!("hung{i}");
            pool.submit(Some(&key), Instant::now() + LONG, move |ran| {
                assert!(ran);
                gate.wait();
                tx.send(("hung", ran)).unwrap();
            });
        }
        let tx2 = tx.clone();
        pool.submit(Some("fine"), Instant::now() + LONG, move |ran| {
            tx2.send(("fine", ran)).unwrap()
        });
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("fine", true));
        assert_eq!(pool.threads(), 3);
        // At the cap, with two threads stuck: the third still serves.
        for _ in 0..5 {
            let tx = tx.clone();
            pool.submit(None, Instant::now() + LONG, move |ran| {
                tx.send(("more", ran)).unwrap()
            });
            assert_eq!(rx.recv_timeout(LONG).unwrap(), ("more", true));
        }
        assert_eq!(pool.threads(), 3);
        gate.open();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("hung", true));
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("hung", true));
    }

    #[test]
    fn a_name_stuck_past_its_deadline_holds_one_thread_and_later_asks_are_refused_at_once() {
        let pool = Pool::new(1, 4);
        let gate = Gate::default();
        let (tx, rx) = mpsc::channel();
        let (g, t) = (gate.clone(), tx.clone());
        let deadline = Instant::now() + Duration::from_millis(50);
        pool.submit(Some("hang"), deadline, move |ran| {
            t.send(ran).unwrap();
            g.wait();
        });
        assert!(rx.recv_timeout(LONG).unwrap(), "the first ask runs");
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        for _ in 0..10 {
            let t = tx.clone();
            pool.submit(Some("hang"), Instant::now() + LONG, move |ran| {
                t.send(ran).unwrap()
            });
            assert!(!rx.recv_timeout(LONG).unwrap(), "refused, not run");
        }
        assert_eq!(pool.threads(), 1, "no thread started for a stuck name");
        gate.open();
    }

    #[test]
    fn a_closed_pool_lets_its_threads_go_and_runs_nothing_more() {
        let pool = Pool::new(2, 2);
        let (tx, rx) = mpsc::channel();
        for _ in 0..2 {
            let tx = tx.clone();
            pool.submit(None, Instant::now() + LONG, move |ran| {
                tx.send(ran).unwrap()
            });
        }
        assert!(rx.recv_timeout(LONG).unwrap() && rx.recv_timeout(LONG).unwrap());
        pool.close();
        let begun = Instant::now();
        while pool.threads() > 0 {
            assert!(begun.elapsed() < LONG, "threads still there");
            thread::sleep(Duration::from_millis(5));
        }
        pool.submit(None, Instant::now() + LONG, move |ran| {
            tx.send(ran).unwrap()
        });
        assert!(!rx.recv_timeout(LONG).unwrap());
    }

    #[test]
    fn a_task_queued_past_its_deadline_is_not_run() {
        let pool = Pool::new(1, 1);
        let gate = Gate::default();
        let (tx, rx) = mpsc::channel();
        let g = gate.clone();
        pool.submit(None, Instant::now() + LONG, move |_| g.wait());
        let t = tx.clone();
        pool.submit(
            None,
            Instant::now() + Duration::from_millis(20),
            move |ran| t.send(("late", ran)).unwrap(),
        );
        thread::sleep(Duration::from_millis(40));
        // The next submission finds it expired in the queue.
        let t = tx.clone();
        pool.submit(None, Instant::now() + LONG, move |ran| {
            t.send(("next", ran)).unwrap()
        });
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("late", false));
        gate.open();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), ("next", true));
    }
}
