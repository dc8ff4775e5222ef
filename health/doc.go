// Package health checks the health of servers the way keepalived's checkers do,
// as a Go API: pluggable probes, a Checker that schedules thousands of targets
// cheaply with rise and fall, and hand-offs to VRRP priorities and IPVS weights.
//
// # Probers
//
// A Prober performs one check within the deadline of its context and returns a
// Result: up or down, the latency, a reason a person can read, and optionally a
// dynamic weight (NoWeight when it has none). Probers are plain values
// configured by their fields; an application can write its own or wrap a
// function with ProberFunc. This package provides:
//
//   - TCP: connect, then reset the connection as keepalived does (TCP_CHECK),
//     or close it with a FIN (Graceful).
//   - HTTP: GET over HTTP or HTTPS with Host, SNI, TLS verification on, off or
//     against a CA, status code ranges (default 200-299), body regular
//     expression or its negation, body MD5 digest, a bound on the body read, and
//     custom headers (HTTP_GET, SSL_GET). A new connection per check, as in
//     keepalived, or with KeepAlive one kept per target between checks.
//   - UDP: send a payload, optionally require a reply matching a pattern or a
//     Match function (keepalived's require_reply bytes and mask); an ICMP port
//     unreachable means down (UDP_CHECK).
//   - DNS: query a name and type (RFC 1035), optionally expecting given answers
//     (DNS_CHECK).
//   - ICMP: echo over an unprivileged ICMP socket, IPv4 (RFC 792) and IPv6
//     (RFC 4443) (PING_CHECK).
//   - Exec: run a program without a shell unless asked; exit 0 up, non-zero
//     down, or with Dynamic 2..255 up with weight status-2 (MISC_CHECK,
//     misc_dynamic, vrrp_script). A timeout kills the whole process group.
//     Credential runs it as another uid/gid (script_user; Unix only).
//   - File: a number in a file gives up/down or a weighted value (track_file,
//     FILE_CHECK).
//   - gRPC health checking (grpc.health.v1) lives in package grpchealth, so that
//     programs which do not need it do not link gRPC.
//
// Every prober implements Validator, and Checker.Add rejects a target whose
// prober's configuration is wrong (no address, a path without "/", a reversed
// status range) with ErrInvalidTarget, before anything is probed.
//
// Every prober releases its sockets, processes and goroutines before Probe
// returns, whatever the target does: a server that stalls hits the deadline, an
// endless body is read only up to MaxBody, a script that ignores its timeout is
// killed with its children.
//
// # Checker
//
// A Checker probes targets on their intervals. Each Target names its Prober and
// keepalived's timing options:
//
//	keepalived               Target / Prober field
//	delay_loop               Interval
//	connect_timeout          Timeout (misc_timeout for Exec)
//	retry, nb_get_retry      Retry
//	delay_before_retry       DelayBeforeRetry
//	warmup                   Warmup
//	alpha                    Alpha
//	omega                    Omega
//	rise, fall (vrrp_script) Rise, Fall
//	connect_ip, connect_port Addr (TCP, HTTP, UDP), Server (DNS)
//	bind_to, bind_port       Bind
//	url path, virtualhost    HTTP.Path, HTTP.Host
//	status_code, digest      HTTP.Status, HTTP.Digest
//	regex, regex_no_match    HTTP.Regexp, HTTP.RegexpNoMatch
//	enable_sni               HTTP.ServerName
//	payload, require_reply   UDP.Payload, UDP.RequireReply / UDP.Reply / UDP.Match
//	type, name (DNS_CHECK)   DNS.Type, DNS.Name
//	misc_path, misc_dynamic  Exec.Path, Exec.Dynamic
//	script_user, user        Exec.Credential (names resolved by the caller)
//	file, weight, reverse    File.Path, File.Weight, File.Reverse
//
// A target starts up, as keepalived adds real servers at startup, unless Alpha
// is set: then it starts down and needs Rise successful checks. When a probe of
// an up target fails it is retried Retry times after DelayBeforeRetry before the
// check counts as failed (keepalived retries only up servers); Fall failed
// checks in a row take the target down and Rise successful ones bring it back.
// Omega reports every up target down when the Checker stops, so that the IPVS
// side withdraws it, like keepalived's omega running the down notifiers.
//
// The first probe of each target comes after a random delay below Warmup
// (default: one interval), so that thousands of targets added together do not
// fire together; CheckerConfig.Rand makes the spread reproducible.
//
// Targets are keyed by ID and reference-counted: the same real server used by
// several virtual services is added by each with the same ID, probed once, and
// stops being probed when the last one removes it. Add and Remove work while the
// Checker runs.
//
// # Scaling
//
// One goroutine schedules all targets from a timer heap and hands due probes to
// a pool of at most CheckerConfig.MaxConcurrent workers (on Linux it starts
// TCP and HTTP probes itself, below), so an idle target costs about a
// kilobyte of memory, not a goroutine and a timer. Probes due close
// together share a wake-up of the scheduler: a probe may start up to 1/128 of
// its interval (or retry delay) early, 7.8 ms at 1 s, so 10k targets at 1 s
// cost about 130 wake-ups a second rather than 10k. A target probed alone is
// probed on time. A probe's deadline timer is made only if the prober waits.
//
// On Linux the TCP probes of a running Checker connect on bare non-blocking
// sockets that share one epoll instance the Checker owns (created by the first
// such probe, closed when Run returns): no runtime poll descriptor, finalizer
// or net.Conn per check. The scheduler starts each TCP probe itself; when the
// kernel settles the connect inside the system call (a server on loopback or
// close by, which answers the SYN at once), a second connect reports it and
// the probe is finished at once; a connect still under way is finished by the
// epoll instance's goroutine when the socket reports, without a worker. After
// a successful check the socket is reset in place (connect with AF_UNSPEC,
// which sends the same RST) and kept for another check, up to
// DefaultMaxConcurrent idle sockets per address family, so a check creates
// and destroys no socket. That costs about 40% of the CPU per check that
// net.Dialer costs; TCP uses net.Dialer when probed outside a Checker, on
// other systems, and for link-local addresses with a zone.
//
// HTTP probes without TLS run the same way: the scheduler connects (or takes
// the target's kept connection, with KeepAlive) and sends the request, which
// is rendered once per target; the epoll goroutine reads the response as it
// arrives and, once it is whole, parses it with net/http's ReadResponse and
// judges it, with the same results as HTTP.Probe. No goroutine waits for a
// response, so a slow server holds a socket and a buffer, not a stack. After a
// whole response the socket is reset in place and kept, as TCP's. HTTPS
// probes, and every prober outside this package, run on the workers.
// MaxConcurrent counts every probe in flight, on a worker or on the epoll
// instance.
//
// With HTTP.KeepAlive the Checker keeps one idle connection per target between
// probes and closes it after a failed check, when the target is removed and
// when Run returns; each such target holds a descriptor, so RLIMIT_NOFILE must
// exceed the number of targets.
//
// BENCHMARKS.md has the CPU and memory measured with 1k, 10k and 50k TCP and
// HTTP targets at 1 s, and where the time goes.
//
// # Events
//
// Changes (up, down, and dynamic weight changes while up) carry the reason and
// the target's latest results. They are delivered in the order they happened, on
// one delivery goroutine of the Checker, to CheckerConfig.OnChange and to Watch
// callbacks; a slow callback delays later deliveries but never a probe.
// Snapshot returns every target's state. Run returns only after the probes in
// flight have returned and every change has been delivered: nothing is left
// running.
//
// # Adapters
//
// The packages of this module do not import each other. TrackUp feeds a target's
// state to anything with Set(up bool), such as a vrrp.Tracker, which applies
// keepalived's weight semantics to the VRRP priority. TrackRealServer feeds it,
// with the dynamic weight, to anything with SetRealServerHealth, such as the
// ipvs.Reconciler.
package health
