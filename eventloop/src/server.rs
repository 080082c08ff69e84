//! The loop: one thread, non-blocking sockets, epoll, and every connection a state machine.
//!
//! This is stage05's loop (its `main.rs`) with the HTTP taken out: what a connection says is
//! its [`Session`]'s business, how its bytes travel is its [`Transport`]'s. What stays here is
//! what every protocol needs: accepting in batches under a capacity limit, with a pause when
//! descriptors run out; slots reused by serial number; one heap of deadlines; signals through
//! a self-pipe; messages from other threads (`mailbox.rs`); and the graceful stop.
//!
//! One loop runs on one thread. For several cores, run several loops, each on its own thread
//! with its own `SO_REUSEPORT` listener ([`reuseport_listener`]) or a clone of a shared one;
//! a [`Handle`] reaches any of them from anywhere.
//!
//! Two things are for servers behind a load balancer: a listener may expect a PROXY protocol
//! header on each connection ([`EventLoop::expect_proxy_header`], `proxy.rs`), and
//! [`Handle::lame_duck`] (or a signal the stage picks, [`EventLoop::lame_duck_on`]) puts the
//! loop in its lame-duck phase: everything is served as before, but [`Turn::lame_duck`] is
//! set, so a health page can say 503 and the balancer stops sending new work before the stop
//! closes the listener.

use crate::mailbox::{Command, ConnectionId, Handle, Mailbox};
use crate::poller::{Interest, Poller};
use crate::proxy::ProxyHeader;
use crate::session::{Service, Session, Step, Turn};
use crate::timers::{Owner, Timer, Timers};
use crate::transport::Transport;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime};

/// Poller keys: the listener, the signal pipes, the mailbox, then one per connection slot.
const LISTENER: usize = 0;
const SIGNALS: usize = 1;
const MAILBOX: usize = 2;
const LAME_DUCK: usize = 3;
const FIRST_CONNECTION: usize = 4;
/// Connections accepted per wake-up at most, so a flood of new ones cannot starve old ones.
const ACCEPT_BATCH: usize = 128;
/// Out of descriptors (EMFILE): stop accepting this long instead of spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// A chain of hand-offs longer than this is a session bug, not a protocol: the connection
/// closes rather than the loop spinning.
const MAX_HANDOFFS: usize = 4;

/// How a loop behaves; the stage's command line fills it in.
#[derive(Clone, Debug)]
pub struct Config {
    /// Names the process on stderr ("stage06: stopping: ...").
    pub name: &'static str,
    /// Stop accepting while this many connections are open (the rest wait in the backlog).
    pub max_connections: usize,
    /// How long a graceful stop lets open connections finish.
    pub grace: Duration,
    /// Whether this loop owns SIGINT and SIGTERM (one loop per process should).
    pub signals: bool,
}

/// One open connection: how its bytes travel, who speaks on it, and its bookkeeping.
struct Connection<T, S> {
    transport: T,
    session: Box<dyn Session<T, S>>,
    /// Unique for the life of the loop: tells this connection from the next one in its slot.
    serial: u64,
    /// The interest registered with the poller now (changing it costs a system call).
    interest: Interest,
    timer: Timer,
}

/// The event loop and everything it owns.
pub struct EventLoop<T: Transport, S: Service<T>> {
    config: Config,
    poller: Poller,
    /// The keys of the last wait's events.
    ready: Vec<usize>,
    /// `None` once shutdown has begun: new connections are refused by the kernel.
    listener: Option<TcpListener>,
    /// Whether the listener is registered for readiness (off while at capacity or backing off).
    accepting: bool,
    /// Accepting was paused by EMFILE and resumes at this time.
    accept_resumes: Option<Instant>,
    /// The read end of the self-pipe that signal handlers write to (see `signals`).
    signals: Option<UnixStream>,
    signals_seen: usize,
    /// The lame-duck signal's self-pipe, if the stage chose one (`lame_duck_on`).
    lame_duck_signal: Option<UnixStream>,
    /// Connections start with a PROXY header, which must be whole within this long.
    proxy_header: Option<Duration>,
    mailbox: Mailbox<S::Message>,
    /// Connections by slot; a closed connection's slot is reused (see `free`).
    slots: Vec<Option<Connection<T, S>>>,
    free: Vec<usize>,
    live: usize,
    next_serial: u64,
    timers: Timers,
    /// When shutdown gives up on the connections still open.
    grace_ends: Option<Instant>,
    transport: T::Config,
    service: S,
    turn: Turn,
}

impl<T: Transport, S: Service<T>> EventLoop<T, S> {
    /// A loop serving `listener` with `service`'s sessions over transport `T`.
    pub fn new(
        config: Config,
        listener: TcpListener,
        transport: T::Config,
        service: S,
    ) -> io::Result<EventLoop<T, S>> {
        listener.set_nonblocking(true)?;
        let poller = Poller::new()?;
        poller.add_exclusive(&listener, LISTENER)?;
        let signals = if config.signals {
            let stop = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM];
            let signals = self_pipe(&stop)?;
            poller.add(&signals, SIGNALS, Interest::Read)?;
            Some(signals)
        } else {
            None
        };
        let mailbox = Mailbox::new()?;
        poller.add(&*mailbox.wake, MAILBOX, Interest::Read)?;
        Ok(EventLoop {
            config,
            poller,
            ready: Vec::with_capacity(1024),
            listener: Some(listener),
            accepting: true,
            accept_resumes: None,
            signals,
            signals_seen: 0,
            lame_duck_signal: None,
            proxy_header: None,
            mailbox,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_serial: 0,
            timers: Timers::default(),
            grace_ends: None,
            transport,
            service,
            turn: Turn::new(),
        })
    }

    /// The address it listens on (for the startup line), until shutdown begins.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(io::Error::other("no listener")),
        }
    }

    pub fn listener(&self) -> Option<&TcpListener> {
        self.listener.as_ref()
    }

    /// A way for other threads to message this loop or stop it.
    pub fn handle(&self) -> Handle<S::Message> {
        self.mailbox.handle()
    }

    pub fn service(&mut self) -> &mut S {
        &mut self.service
    }

    // ANCHOR: expect_proxy_header
    /// Every connection of this listener starts with a PROXY protocol header (v1 or v2), whole
    /// within `timeout`, or is closed: the listener is behind a proxy that sends one
    /// (HAProxy's `send-proxy-v2`). The service's sessions then see the client the header
    /// names, in [`Service::open`] and [`Transport::peer`]. Only for a listener that nobody
    /// but the proxy can reach: whoever can connect could name any address.
    pub fn expect_proxy_header(&mut self, timeout: Duration) {
        self.proxy_header = Some(timeout);
    }
    // ANCHOR_END: expect_proxy_header

    /// `signal` puts this loop in its lame-duck phase, as [`Handle::lame_duck`] does: for a
    /// process whose one loop owns its signals (stage09's worker, which its master sends
    /// SIGUSR2 before a stop). No signal is caught unless a stage asks.
    pub fn lame_duck_on(&mut self, signal: i32) -> io::Result<()> {
        let pipe = self_pipe(&[signal])?;
        self.poller.add(&pipe, LAME_DUCK, Interest::Read)?;
        self.lame_duck_signal = Some(pipe);
        Ok(())
    }

    // ANCHOR: run
    /// The loop: wait for readiness or the nearest deadline, handle what came, repeat. Returns
    /// once a graceful stop has seen every connection finish; exits the process (code 1) if
    /// the grace period runs out first.
    pub fn run(&mut self) -> io::Result<()> {
        loop {
            let timeout = self
                .next_deadline()
                .map(|at| at.saturating_duration_since(Instant::now()));
            // The keys are copied out (into a buffer kept between turns) so that handling one
            // event may change the poller.
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            ready.extend(self.poller.wait(timeout)?);
            // One clock reading per turn serves every connection in it.
            self.turn.now = Instant::now();
            self.turn.wall = SystemTime::now();
            self.take_messages();
            for &key in &ready {
                match key {
                    LISTENER => {
                        self.accept();
                    }
                    SIGNALS => self.on_signal(),
                    LAME_DUCK => {
                        if let Some(pipe) = &mut self.lame_duck_signal {
                            drain(pipe);
                        }
                        self.turn.lame_duck = true;
                    }
                    // Reset the eventfd, then take the channel again: a message pushed
                    // since `take_messages` above has written its wake-up already, and the
                    // reset just erased it.
                    MAILBOX => {
                        self.mailbox.woken();
                        self.take_messages();
                    }
                    key => self.on_ready(key - FIRST_CONNECTION),
                }
            }
            self.ready = ready;
            self.expire_timers();
            self.resume_accepting_if_due();
            if let Some(grace_ends) = self.grace_ends {
                if self.live == 0 {
                    return Ok(());
                }
                if self.turn.now >= grace_ends {
                    // Not a clean stop: say so, and in the exit code (as stage04 does).
                    eprintln!(
                        "{}: grace period over; cutting off {} connection(s)",
                        self.config.name, self.live
                    );
                    std::process::exit(1);
                }
            }
        }
    }
    // ANCHOR_END: run

    /// The soonest moment the loop must wake even if no socket is ready.
    fn next_deadline(&self) -> Option<Instant> {
        [self.timers.next(), self.accept_resumes, self.grace_ends]
            .into_iter()
            .flatten()
            .min()
    }

    /// Everything other threads have sent, in order.
    fn take_messages(&mut self) {
        while let Some(command) = self.mailbox.next() {
            match command {
                Command::Message(message) => self.service.message(message, &self.turn),
                Command::To(to, message) => self.deliver(to, message),
                Command::LameDuck => self.turn.lame_duck = true,
                Command::Stop => {
                    if self.grace_ends.is_none() {
                        self.begin_shutdown();
                    }
                }
            }
        }
    }

    // ANCHOR: deliver
    /// A message for one connection: its session takes it, if the connection is still the
    /// one it was sent to. A slot whose serial differs holds a newer connection, and the
    /// message is not for it: dropped, like a message to a slot that is empty.
    fn deliver(&mut self, to: ConnectionId, message: S::Message) {
        let Some(Some(connection)) = self.slots.get_mut(to.slot) else {
            return;
        };
        if connection.serial != to.serial {
            return;
        }
        self.turn.connection = to;
        let step = connection.session.message(
            &mut connection.transport,
            &mut self.service,
            &mut self.turn,
            message,
        );
        self.turn.output.clear();
        if let Some(step) = step {
            self.apply(to.slot, step);
        }
    }
    // ANCHOR_END: deliver

    // ANCHOR: on_ready
    /// A connection's socket is ready: let its session run, then do what it asks.
    fn on_ready(&mut self, slot: usize) {
        // It may have been closed earlier in this same batch of events.
        let Some(Some(connection)) = self.slots.get_mut(slot) else {
            return;
        };
        self.turn.connection = ConnectionId {
            slot,
            serial: connection.serial,
        };
        let step =
            connection
                .session
                .ready(&mut connection.transport, &mut self.service, &mut self.turn);
        // The shared output buffer is empty after every turn, whatever happened.
        self.turn.output.clear();
        self.apply(slot, step);
    }

    /// Carries out a [`Step`]: change what the poller watches for, move the deadline, hand
    /// the connection to another session, or close. Each change of interest is a system
    /// call, so it is made only when needed.
    fn apply(&mut self, slot: usize, mut step: Step<T, S>) {
        for _ in 0..=MAX_HANDOFFS {
            let Some(Some(connection)) = self.slots.get_mut(slot) else {
                return;
            };
            match step {
                Step::Wait { interest, deadline } => {
                    if interest != connection.interest {
                        let key = slot + FIRST_CONNECTION;
                        let socket = connection.transport.socket();
                        if self.poller.modify(socket, key, interest).is_err() {
                            return self.close(slot);
                        }
                        connection.interest = interest;
                    }
                    let owner = Owner {
                        slot,
                        serial: connection.serial,
                    };
                    self.timers.set(&mut connection.timer, owner, deadline);
                    return;
                }
                Step::Close => return self.close(slot),
                Step::Handoff(session) => {
                    // The new session may already hold a whole request: it starts now.
                    connection.session = session;
                    step = connection.session.start(
                        &mut connection.transport,
                        &mut self.service,
                        &mut self.turn,
                    );
                    self.turn.output.clear();
                }
            }
        }
        self.close(slot);
    }
    // ANCHOR_END: on_ready

    // ANCHOR: accept
    /// Accepts what is waiting, up to a batch, while below the capacity. Returns true when it
    /// stopped only because the batch was used up (more may be waiting).
    fn accept(&mut self) -> bool {
        for _ in 0..ACCEPT_BATCH {
            if self.live >= self.config.max_connections {
                // At capacity: stop listening for readiness (or the level-triggered listener
                // would wake us forever). Closing a connection turns it back on.
                self.set_accepting(false);
                return false;
            }
            let Some(listener) = &self.listener else {
                return false;
            };
            match accept_nonblocking(listener) {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if common::path::out_of_resources(&e) => {
                    // EMFILE: the connection stays in the backlog and the listener stays
                    // readable. Retrying now would spin; pause, and try again a bit later.
                    self.set_accepting(false);
                    self.accept_resumes = Some(self.turn.now + ACCEPT_BACKOFF);
                    return false;
                }
                // ECONNABORTED and the like: that one connection's problem.
                Err(_) => {}
            }
        }
        true
    }

    /// Registers a new connection and lets its first session start.
    fn admit(&mut self, stream: TcpStream, peer: IpAddr) {
        // Responses go out in one write each; there is nothing for Nagle to coalesce, only
        // latency to add when a file follows its head.
        let _ = stream.set_nodelay(true);
        let Ok(transport) = T::new(stream, &self.transport) else {
            return;
        };
        let slot = self.free.pop().unwrap_or(self.slots.len());
        let key = slot + FIRST_CONNECTION;
        if self
            .poller
            .add(transport.socket(), key, Interest::Read)
            .is_err()
        {
            if slot < self.slots.len() {
                self.free.push(slot);
            }
            return;
        }
        self.next_serial += 1;
        // Behind a proxy, the service's session comes once the header has said who the
        // client is (`proxy.rs` opens it then).
        let session: Box<dyn Session<T, S>> = match self.proxy_header {
            Some(timeout) => Box::new(ProxyHeader::new(peer, self.turn.now, timeout)),
            None => self.service.open(peer, &self.turn),
        };
        let connection = Connection {
            transport,
            session,
            serial: self.next_serial,
            interest: Interest::Read,
            timer: Timer::default(),
        };
        if slot == self.slots.len() {
            self.slots.push(Some(connection));
        } else {
            self.slots[slot] = Some(connection);
        }
        self.live += 1;
        let Some(Some(connection)) = self.slots.get_mut(slot) else {
            return;
        };
        self.turn.connection = ConnectionId {
            slot,
            serial: connection.serial,
        };
        let step =
            connection
                .session
                .start(&mut connection.transport, &mut self.service, &mut self.turn);
        self.turn.output.clear();
        self.apply(slot, step);
    }
    // ANCHOR_END: accept

    // ANCHOR: close
    /// Every connection ends here, whatever ended it: the session logs what it must, the
    /// transport says goodbye (TLS close_notify, on the idle timeout as on `Connection:
    /// close`), and the slot is free for the next one.
    fn close(&mut self, slot: usize) {
        let Some(mut connection) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = self.poller.delete(connection.transport.socket());
        connection.session.closed(&mut self.service);
        connection.transport.goodbye();
        drop(connection);
        self.free.push(slot);
        self.live -= 1;
        if self.live < self.config.max_connections && self.accept_resumes.is_none() {
            self.set_accepting(true);
        }
    }
    // ANCHOR_END: close

    fn set_accepting(&mut self, on: bool) {
        let Some(listener) = &self.listener else {
            return;
        };
        if self.accepting == on {
            return;
        }
        // An exclusive registration cannot be modified (see `Poller::add_exclusive`): pausing
        // deletes it, resuming adds it again.
        let done = if on {
            self.poller.add_exclusive(listener, LISTENER)
        } else {
            self.poller.delete(listener)
        };
        if done.is_ok() {
            self.accepting = on;
        }
    }

    fn resume_accepting_if_due(&mut self) {
        if self.accept_resumes.is_some_and(|at| self.turn.now >= at) {
            self.accept_resumes = None;
            if self.live < self.config.max_connections {
                self.set_accepting(true);
            }
        }
    }

    // ANCHOR: expire
    /// Gives every connection whose deadline has passed to its session: idle too long, a head
    /// dripping in too slowly, a client not reading its response, a lingering close that ran
    /// out.
    fn expire_timers(&mut self) {
        let now = self.turn.now;
        while let Some((at, owner)) = self.timers.pop_due(now) {
            let Some(Some(connection)) = self.slots.get_mut(owner.slot) else {
                continue;
            };
            if connection.serial == owner.serial
                && self.timers.fire(&mut connection.timer, owner, at, now)
            {
                self.turn.connection = ConnectionId {
                    slot: owner.slot,
                    serial: owner.serial,
                };
                let step = connection.session.timed_out(
                    &mut connection.transport,
                    &mut self.service,
                    &mut self.turn,
                );
                self.turn.output.clear();
                self.apply(owner.slot, step);
            }
        }
        // Closed connections leave stale entries; don't let them pile up under churn.
        if self.timers.len() > 2 * self.live + 1024 {
            let live = self.slots.iter_mut().enumerate().filter_map(|(slot, c)| {
                let connection = c.as_mut()?;
                let owner = Owner {
                    slot,
                    serial: connection.serial,
                };
                Some((&mut connection.timer, owner))
            });
            self.timers.rebuild(live);
        }
    }
    // ANCHOR_END: expire

    // ANCHOR: shutdown
    /// A signal arrived (through the self-pipe). The first starts a graceful shutdown; the
    /// second ends the process at once.
    fn on_signal(&mut self) {
        let Some(signals) = &mut self.signals else {
            return;
        };
        self.signals_seen += drain(signals);
        if self.signals_seen >= 2 {
            eprintln!("{}: stopping now", self.config.name);
            std::process::exit(130);
        }
        if self.signals_seen == 1 && self.grace_ends.is_none() {
            self.begin_shutdown();
        }
    }

    /// Stop accepting (the listener closes, so new clients are refused at once), close idle
    /// connections, and let the rest finish the response they are on, up to the grace period.
    fn begin_shutdown(&mut self) {
        // Clients that connected before the stop are in flight too, even if the loop has not
        // got round to them: take them from the backlog, then close the listener.
        while self.accept() {}
        if let Some(listener) = self.listener.take() {
            let _ = self.poller.delete(&listener);
        }
        self.turn.draining = true;
        self.grace_ends = Some(self.turn.now + self.config.grace);
        // Idle means nothing in flight on either side: no state of the session's, and no
        // request bytes waiting unread in the socket (a keep-alive request that arrived just
        // after the signal is answered, with `Connection: close`, not reset).
        let idle: Vec<usize> = (0..self.slots.len())
            .filter(|&slot| {
                matches!(&self.slots[slot], Some(c)
                    if c.session.is_idle(&c.transport) && !has_unread_bytes(c.transport.socket()))
            })
            .collect();
        for slot in idle {
            self.close(slot);
        }
        // The busy ones are told, so that a protocol with a goodbye of its own says it now.
        for slot in 0..self.slots.len() {
            let Some(Some(connection)) = self.slots.get_mut(slot) else {
                continue;
            };
            self.turn.connection = ConnectionId {
                slot,
                serial: connection.serial,
            };
            let step = connection.session.stopping(
                &mut connection.transport,
                &mut self.service,
                &mut self.turn,
            );
            self.turn.output.clear();
            if let Some(step) = step {
                self.apply(slot, step);
            }
        }
        eprintln!(
            "{}: stopping: finishing {} connection(s) for at most {} s (again to stop now)",
            self.config.name,
            self.live,
            self.config.grace.as_secs()
        );
    }
    // ANCHOR_END: shutdown
}

/// True when the client has sent bytes we have not read yet (a request on its way).
fn has_unread_bytes(socket: &TcpStream) -> bool {
    matches!(socket.peek(&mut [0u8; 1]), Ok(n) if n > 0)
}

/// Registers `signals` to write a byte into a socket pair, and returns its read end. A signal
/// handler may do almost nothing safely, but it may write to a descriptor, and a descriptor
/// is something the event loop can wait on: the self-pipe trick.
fn self_pipe(signals: &[i32]) -> io::Result<UnixStream> {
    let (read_end, write_end) = UnixStream::pair()?;
    read_end.set_nonblocking(true)?;
    for &signal in signals {
        signal_hook::low_level::pipe::register(signal, write_end.try_clone()?)?;
    }
    Ok(read_end)
}

/// Reads a self-pipe empty; returns how many signals it held (a byte each).
fn drain(pipe: &mut UnixStream) -> usize {
    let mut bytes = [0u8; 64];
    let mut seen = 0;
    while let Ok(n) = pipe.read(&mut bytes) {
        if n == 0 {
            break;
        }
        seen += n;
    }
    seen
}

/// `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: the connection comes out of the kernel
/// ready for the loop, where `TcpListener::accept` then `set_nonblocking` costs an extra
/// `ioctl` per connection.
fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, IpAddr)> {
    use rustix::net::{acceptfrom_with, SocketFlags};
    let (fd, peer) = acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
    let stream = TcpStream::from(fd);
    // A TCP listener's peers always have an IP address; the fallback is never taken.
    let peer = peer
        .and_then(|addr| SocketAddr::try_from(addr).ok())
        .map_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), |addr| {
            addr.ip()
        });
    Ok((stream, peer))
}

/// A listener on `addr` with `SO_REUSEPORT`, so that several loops (one per thread) can each
/// have their own on the same port and the kernel spreads new connections among them.
pub fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
