/*
 * router.h: the contract between the proxymachine core and a router.
 *
 * The core owns the sockets, the timers and the memory.  A router maps the
 * bytes a client has sent so far to one decision, and loads its table from
 * the file named with -c.  Exactly one router is linked into the program;
 * `make ROUTER=name` picks routers/name.c.  This file is the reference:
 * routers/skeleton.c shows all of it in a page, routers/custom.c is the
 * rich example.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#ifndef PM_ROUTER_H
#define PM_ROUTER_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>

/*
 * The core's buffer, per direction: the most bytes a client may send
 * before the router decides, and the most that data and the replies of
 * one decision may hold.  Build with -DPM_BUFSIZE=n (make BUFSIZE=n),
 * 512 to 1048576, for another.  Buffers are lent from the memory budget
 * (-m) only while they hold bytes, so an idle connection costs none, a
 * busy one up to two.  Larger buffers mean fewer system calls per byte:
 * 64 KiB moved a stream with a quarter of the calls of 16 KiB and beat it
 * by a fifth in the benchmark.
 */
#ifndef PM_BUFSIZE
#define PM_BUFSIZE	65536
#endif

/* What the router decided. */
enum pm_action {
	PM_NOOP,	/* nothing yet: ask again when more bytes arrive */
	PM_REMOTE,	/* connect to addr and relay */
	PM_CLOSE,	/* close the client, after sending reply if set */
	PM_REPLY,	/* send reply to the client, and keep routing */
	PM_LOOKUP	/* look host up; router_resolved() decides then */
};

/*
 * One decision.  The core zeroes it before each call to router_route(),
 * all but state: a router that sets nothing answers PM_NOOP.
 *
 * PM_REMOTE: addr/addrlen name the backend (resolved when the table was
 *   loaded: router_route() never resolves).  data/datalen, when data is
 *   not NULL, replace the client's bytes as the first bytes sent to the
 *   backend (datalen 0: none).  reply/replylen, when reply is not NULL,
 *   are sent to the client at once, before the backend answers.
 *   connect_ms bounds each connect attempt (0: the system's own
 *   timeout); idle_ms closes both sides when the backend connection sees
 *   no traffic for that long (0: never).
 *   ok_reply/ok_replylen and fail_reply/fail_replylen, when either is
 *   not NULL, make the answer wait for the backend: ok_reply is sent to
 *   the client once the connect succeeded, fail_reply when the backend
 *   could not be had (every attempt failed, the destination was this
 *   proxy's own listener, or no socket was left); the client is then
 *   closed.  A reply given with them waits too, and goes first.  Without
 *   them a reply is sent at once (the original's behaviour).
 *   proxy, 1 or 2, sends the backend a PROXY protocol header of that
 *   version (HAProxy's text v1 or binary v2) before any other byte, on
 *   every connect attempt: the client's address and the address it
 *   connected to (IPv4 for an IPv4 client of a dual-stack listener;
 *   those of the PROXY header of a listener given with -a).  Any other
 *   value sends none: routers check what their tables say.  Routers read
 *   it from a route's `proxy=1' or `proxy=2' in their tables.  The
 *   header (at most 107 bytes) goes in the buffer with the client's
 *   bytes or data: a route whose bytes leave no room for it closes the
 *   client, with a line in the log.
 *   bound, when not 0, has the core write the address of its end of the
 *   backend connection (getsockname(2)) over the end of ok_reply once
 *   connected, as SOCKS5's BND.ADDR and BND.PORT: the 4 bytes of an IPv4
 *   address or the 16 of an IPv6 one (the family of addr), then the 2 of
 *   the port, in network byte order; ok_replylen must leave room for
 *   them (6 or 18 bytes).  Where the address cannot be had, ok_reply
 *   goes as given.
 * PM_CLOSE: reply/replylen, when reply is not NULL, are written to the
 *   client in full before it is closed; without it the client only sees
 *   the connection end.
 * PM_NOOP: wait_ms, when not 0, asks the core to call router_route()
 *   again with `expired' set if no new byte arrives within that time.
 * PM_REPLY: reply/replylen (at most PM_BUFSIZE bytes; reply NULL: none)
 *   are sent to the client now, and routing goes on as after PM_NOOP
 *   (wait_ms too): the reply and keep waiting of a protocol in which the
 *   server answers before the client names what it wants.  The core
 *   calls router_route() again only once the reply is written whole: a
 *   client that does not read it is asked nothing more, and is closed at
 *   the routing timeout.  Asked with `expired' set at the client's end of
 *   file, PM_REPLY is PM_CLOSE with that reply.
 *
 * PM_LOOKUP: host/hostlen (1 to PM_HOSTMAX bytes, no NUL; it need not end in
 *   a NUL) is a name to look up, for port (1 to 65535) and family (AF_UNSPEC
 *   for any address, AF_INET or AF_INET6 for one kind).  The core copies the
 *   name (in lower case: names are alike in any case, RFC 4343, but not
 *   every hosts file reader knows it), sends it to a resolver process and
 *   parks the connection: router_route() is not called while it waits; the
 *   client's bytes are still read into the buffer (and its end of file
 *   noted), and the client's leaving ends the wait.  The answer comes to
 *   this connection only, as one call of router_resolved(), whose decision
 *   is taken as router_route()'s is.  One lookup at a time per connection,
 *   PM_LOOKUPS at a time per serving process (waiting for a free resolver or
 *   asked); past that a lookup fails at once, busy.  connect_ms, when not 0,
 *   bounds the lookup (waiting included) in place of PM_LOOKUP_TIMEOUT; the
 *   routing timeout (PM_ROUTE_TIMEOUT from the client's connect) ends it in
 *   any case, as PM_TIMEDOUT.
 *   The other fields are not read.
 *
 * state is the router's own word about the connection: 0 at the first
 * call, then whatever the router left in it at its last call, kept by
 * the core until the connection closes (the hooks see it too).  consume,
 * with PM_NOOP and PM_REPLY, is how many of the bytes handed over (at
 * most len) the decision used up: the core drops them from the front of
 * the buffer, so the next call sees only what came after them, and if
 * bytes are left it calls router_route() again at once (when the reply
 * is written) on what is left, without waiting for a read.  A router
 * that answers in phases keeps its phase in state and consumes each
 * phase's message: it is then never asked twice about the same message
 * (a reply is never sent twice, whether the call comes with new bytes,
 * with `expired', or at once), and a phase cannot be skipped by sending
 * the next message early, as it is read in the phase it belongs to.
 *
 * With them a router can speak first or answer before routing:
 *   - SOCKS5: the method selection, then RFC 1929's username and
 *     password, then the request;
 *   - server-first protocols: PM_REPLY on the first call (len 0) sends a
 *     greeting (an SMTP, FTP or POP3 banner, a MySQL handshake), and the
 *     client's answer to it routes;
 *   - STARTTLS: answer the client's plain-text STARTTLS (SMTP, IMAP,
 *     POP3, XMPP) and consume it, then route on the TLS ClientHello that
 *     follows, by its server name, to a TLS backend;
 *   - PostgreSQL: answer an SSLRequest with `S' (TLS follows, routed by
 *     its ClientHello) or `N' (consume it and route on the
 *     StartupMessage, by database or user).
 *
 * data and the replies may point into the router's own static storage or
 * into the bytes it was handed: the core copies them before it calls the
 * router again.  Each fits the core's buffer: for PM_REMOTE, datalen is
 * at most PM_BUFSIZE, and so is twice replylen plus ok_replylen plus
 * fail_replylen; for PM_CLOSE, replylen is at most PM_BUFSIZE.  Longer
 * ones close the client, with a line in the log.  Replies that take at
 * most PM_REPLYMAX bytes that way (512 unless built otherwise) are kept
 * in the connection's own slot; longer ones take a buffer from the
 * memory budget (-m), and the client is closed when none is left.
 */
struct pm_route {
	enum pm_action		 action;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	const void		*data;
	const void		*reply;
	size_t			 datalen;
	size_t			 replylen;
	int			 connect_ms;
	int			 idle_ms;
	int			 wait_ms;
	const void		*ok_reply;
	const void		*fail_reply;
	size_t			 ok_replylen;
	size_t			 fail_replylen;
	int			 proxy;
	int			 bound;
	int			 error;
	unsigned int		 state;
	size_t			 consume;
	const char		*host;
	size_t			 hostlen;
	int			 port;
	int			 family;
};

/*
 * What a lookup found, for router_resolved().  status is PM_FOUND with
 * naddr addresses (1 to PM_ANSWERMAX, in the resolver's order of
 * preference, each with the port asked for), or why there are none:
 * PM_NOTFOUND, the name does not exist or has no address of the family
 * asked for; PM_TRYAGAIN, the name servers failed for now; PM_TIMEDOUT,
 * no answer in time (PM_LOOKUP_TIMEOUT, 5 s unless the core was built
 * otherwise, or the route's connect_ms: see PM_LOOKUP); PM_BUSY, too many lookups in flight: refused without
 * asking; PM_FAILED, anything else (no resolver process, a build that
 * looks up no names, a name the core will not ask about).  pm_lookup_str()
 * says it in words.
 */
#define PM_HOSTMAX	255
#define PM_ANSWERMAX	8

enum { PM_FOUND, PM_NOTFOUND, PM_TRYAGAIN, PM_TIMEDOUT, PM_BUSY,
    PM_FAILED };

struct pm_answer {
	int			 status;
	int			 naddr;
	struct sockaddr_storage	 addr[PM_ANSWERMAX];
	socklen_t		 addrlen[PM_ANSWERMAX];
};

/*
 * Implemented by the router.
 *
 * router_name is the router's name, as shown in the log and the process
 * title.
 *
 * router_lookups is 1 for a router that answers PM_LOOKUP, 0 for one that
 * never does: the core then starts no resolver process for lookups, and
 * a PM_LOOKUP fails at once (PM_FAILED).
 *
 * router_load() reads the table at path (NULL when -c was not given).  It
 * is called once before the proxy listens and again on SIGHUP.  On success
 * it returns 0 and the new table is in force.  On failure it returns -1,
 * leaves the table in force untouched, and writes `file:line: problem' to
 * err (errlen bytes with the NUL); at start-up the proxy then exits.
 * Build the new table in a spare one and swap it in at the end.
 *
 * On SIGHUP it runs twice.  First in the resolver, a separate process,
 * where pm_conf_read() reads the file and pm_addr_parse() looks names up,
 * and both record what they got; that process's table is then thrown
 * away.  Then, if that load succeeded, where the table serves (in the
 * master and in each worker with -w), where the two answer from the
 * record, without reading a file or waiting for a name server.  So
 * router_load() reads files only with pm_conf_read(), resolves only with
 * pm_addr_parse(), and has no effect beyond its table and its log lines
 * (pm_log() is silent in the resolver).
 *
 * router_route() decides for the len bytes at buf, every byte the client
 * at peer has sent so far (not just the new ones; at most PM_BUFSIZE).
 * It runs on the event loop: it does no I/O, no allocation and no name
 * lookup.  The core calls it, until it answers other than PM_NOOP or
 * PM_REPLY:
 *   - once when the client connects, with len 0 (a router may decide
 *     then, for a protocol in which the server speaks first);
 *   - after every read that brought new bytes;
 *   - at once, when a decision consumed bytes and left some (above);
 *   - with expired set, on the same bytes, when a PM_NOOP asked for a
 *     wait_ms that ran out without a new byte;
 *   - with expired set, once more, when the client ends its stream (its
 *     end of file) before a decision, with len above 0.  No more bytes
 *     will come: PM_NOOP then closes the client; PM_CLOSE closes it
 *     (after the reply); PM_REMOTE connects, sends the bytes, then passes
 *     the end of file on, but a failed connect is not retried and calls
 *     no hook, as for any client that ended its stream first.  A client
 *     that ends its stream before its first byte is closed without a
 *     call.
 * The core closes the client, without a call, when PM_NOOP leaves the
 * buffer full (len is PM_BUFSIZE), and when no decision came within its
 * routing timeout (PM_ROUTE_TIMEOUT, 30 s unless built otherwise).
 *
 * router_resolved() decides, in place of router_route(), once the lookup
 * a PM_LOOKUP asked for is answered (answer) or failed: for the len bytes
 * at buf, every byte the client has sent so far and not consumed, from
 * the client at peer.  route is zeroed but for state, as for
 * router_route(), and its decision is taken the same way: a remote among
 * the addresses found, a reply, a close, a wait, or another lookup.  The
 * client may have ended its stream while the lookup ran (no more bytes
 * will come then, as with `expired'): a PM_NOOP or a PM_REPLY is then a
 * close.  A router that never answers PM_LOOKUP defines it empty: it is
 * never called.
 *
 * The hooks tell the router about a backend that failed; route is its
 * decision, with data and the replies cleared.  router_connect_error() is
 * called when the backend at route->addr could not be had: every connect
 * attempt failed (refused, timed out, or the backend closed before
 * sending a byte and before it was sent one), or the backend closed
 * without a byte after it had been sent some.  router_idle_error() is
 * called when the inactivity timeout (idle_ms) closed a connection whose
 * backend had never sent a byte.  Neither is called when the client had
 * closed or ended its stream first, nor for failures of the proxy's own
 * (the destination is its own listener, no socket was left).  Both may
 * call pm_note(); the core closes the connection after them.  In the
 * route given to router_connect_error(), error says why the last attempt
 * failed, as an errno value: ECONNREFUSED, ETIMEDOUT (connect_ms ran
 * out, or the system's own timeout), ENETUNREACH, EHOSTUNREACH and the
 * like; 0 or EPIPE when the backend closed before sending a byte.  While
 * the client still waits for a fail_reply, router_connect_error() may
 * change it with pm_fail_reply(), so that the reply says why (SOCKS5's
 * "connection refused", "TTL expired").
 */
extern const char	router_name[];
extern const int	router_lookups;
int	router_load(const char *path, char *err, size_t errlen);
void	router_route(const unsigned char *buf, size_t len,
	    const struct sockaddr *peer, int expired, struct pm_route *route);
void	router_resolved(const unsigned char *buf, size_t len,
	    const struct sockaddr *peer, const struct pm_answer *answer,
	    struct pm_route *route);
void	router_connect_error(const struct pm_route *route);
void	router_idle_error(const struct pm_route *route);

/*
 * Provided by the core for routers.
 *
 * pm_log() writes one line to the log at level (PM_LOG_ERR: the table
 * or the router is broken; PM_LOG_WARN: something an operator must
 * fix; PM_LOG_NOTICE: a table loaded; PM_LOG_INFO, PM_LOG_DEBUG: more
 * detail, for -v).  It takes a printf(3) format and adds the newline;
 * -q keeps only PM_LOG_NOTICE and below, -v adds PM_LOG_DEBUG.
 *
 * pm_note() is for what the router says about one connection, from
 * router_route() and the hooks: the text (PM_NOTEMAX bytes at most) goes
 * into the one line logged when that connection closes, replacing any
 * earlier note, and is logged at once with -v.  A router should not log
 * per connection otherwise: a busy proxy would write a line per step.
 * Quote what the client sent with pm_quote().
 *
 * pm_addr_parse() turns "host:port", "[v6addr]:port" or "host" (with
 * defport, when defport is not NULL) into an address, resolving names
 * (call it from router_load() only: on reload the resolver process does
 * the lookup, see above).  It returns 0, or -1 with the problem in err;
 * an address that is the proxy's own listener is such a problem.
 *
 * pm_net_parse() reads a client network for a rule: "any", an IPv4 or
 * IPv6 address, or one with a prefix length ("192.168.0.0/16",
 * "fd00::/8"), whose bits past the prefix must be zero.  It returns 0,
 * or -1 with the problem in err.  pm_net_match() returns whether the
 * address sa is in net; an IPv4 network also holds the IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d) a dual-stack listener reports for IPv4
 * clients.  pm_net_str() writes net as text ("10.0.0.0/8", "any") into
 * buf (len bytes; PM_ADDRSTRLEN is enough) and returns buf.
 *
 * pm_fail_reply(), from router_connect_error() only, writes the len bytes
 * at p over the end of the fail_reply the client is about to get (the
 * reply given with it stays in front).  A router gives the fail_reply of
 * its most general failure in its decision and, knowing route->error,
 * replaces it with one as long.  It returns 0, or -1 when no reply is
 * held (the client had it, or it was not asked for) or len is longer
 * than it.
 *
 * pm_listener() returns which listener the connection being decided came
 * in on (0 for the first one given on the command line: each -h host at
 * each -p or -a port, in that order), and stores the address it listens
 * on in *sa when sa is not NULL.  Call it from router_route() and the
 * hooks.  The peer of a connection to a listener given with -a is the
 * client its PROXY header names.  pm_listener_addr() returns the address
 * listener k listens on, or NULL when there is no listener k; it serves
 * router_load() too, which may warn about them.
 *
 * pm_lookup_str() returns the words for a lookup's status ("found", "not
 * found", "temporary failure", "timed out", "too many lookups in flight",
 * "failed").
 *
 * pm_addr_str() writes "1.2.3.4:80" or "[::1]:80" for sa into buf (len
 * bytes; PM_ADDRSTRLEN is enough) and returns buf.
 *
 * pm_conf_read() reads the table at path (at most 1 MiB, read whole; on
 * reload, the resolver's copy of it) and calls fn(arg, line, err, errlen)
 * for each line, with its end of line (\n or \r\n) and its comment
 * removed, unless nothing but blanks and tabs is left.  The comment rule
 * is the same for every router: a `#' at the start of a line or after a
 * blank or a tab starts a comment, which runs to the end of the line;
 * elsewhere (`a#b'), after a backslash (`\#') or between double quotes it
 * is an ordinary byte, and a backslash also keeps a double quote from
 * opening or closing a quoted part.  A line may hold PM_CONF_LINEMAX
 * bytes, its end of line not counted, and no NUL.  fn returns 0, or -1
 * with the problem in err; pm_conf_read() then returns -1 with err
 * rewritten as `path:line: problem'.  It returns 0 when every line was
 * accepted.
 *
 * pm_conf_split() splits line in place at blanks and tabs into at most
 * max fields and returns how many it found, or -1 when there are more
 * than max.
 *
 * pm_conf_secs() reads seconds, a whole number with up to three decimals
 * ("5", "0.25"), at most PM_CONF_MAXSECS, into *ms.  It returns 0, or -1
 * when s is not such a number.
 *
 * pm_hexval() returns the value of the hex digit c (either case), or -1
 * when c is not one.
 *
 * pm_unescape() decodes the escape at s, which starts with its backslash:
 * \xHH (two hex digits) for that byte, \0 NUL, \n newline, \r carriage
 * return, \t tab, and \\, \", \# and \ followed by a blank for the
 * character itself.  It stores the byte in *byte and returns the length
 * of the escape (2, or 4 for \xHH), or returns -1 with the problem in err.
 *
 * pm_quote() writes the len bytes at p into buf (buflen bytes, at least
 * 8) as text that a log line can carry: printable ASCII as it is, but \
 * and " with a backslash, and every other byte as an escape that
 * pm_unescape() reads back (\0, \n, \r, \t, else \xHH).  Text that does
 * not fit ends in "...".  It returns buf.
 */
#define PM_ADDRSTRLEN	64
#define PM_CONF_LINEMAX	4096
#define PM_CONF_MAXSECS	86400

enum { PM_LOG_ERR, PM_LOG_WARN, PM_LOG_NOTICE, PM_LOG_INFO, PM_LOG_DEBUG };
#define PM_NOTEMAX	128

/* A client network: family AF_UNSPEC is "any". */
struct pm_net {
	int		 family;
	int		 bits;
	unsigned char	 addr[16];
};

void	pm_log(int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	    __attribute__((format(printf, 2, 3)))
#endif
	    ;
void	pm_note(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
	    __attribute__((format(printf, 1, 2)))
#endif
	    ;
int	pm_addr_parse(const char *spec, const char *defport,
	    struct sockaddr_storage *ss, socklen_t *sslen,
	    char *err, size_t errlen);
char	*pm_addr_str(const struct sockaddr *sa, char *buf, size_t len);
const char *pm_lookup_str(int status);
int	pm_net_parse(const char *s, struct pm_net *net, char *err,
	    size_t errlen);
int	pm_net_match(const struct pm_net *net, const struct sockaddr *sa);
char	*pm_net_str(const struct pm_net *net, char *buf, size_t len);
int	pm_listener(const struct sockaddr **sa);
int	pm_fail_reply(const void *p, size_t len);
const struct sockaddr *pm_listener_addr(int k);
int	pm_conf_read(const char *path,
	    int (*fn)(void *arg, char *line, char *err, size_t errlen),
	    void *arg, char *err, size_t errlen);
int	pm_conf_split(char *line, char **fields, int max);
int	pm_conf_secs(const char *s, int *ms);
int	pm_hexval(int c);
int	pm_unescape(const char *s, unsigned char *byte, char *err,
	    size_t errlen);
char	*pm_quote(const void *p, size_t len, char *buf, size_t buflen);

#endif /* PM_ROUTER_H */
