/*
 * routers/git.c: route git:// requests to a backend chosen by user.
 *
 * A git client opens a git:// connection by sending one pkt-line: four hex
 * digits giving the line's length (the four digits included), then
 *
 *	git-upload-pack /alice/repo.git\0host=example.com:9418\0
 *
 * where the service may also be git-receive-pack or git-upload-archive,
 * the host parameter may be absent, and further parameters may follow
 * after an empty one (protocol v2 sends "\0version=2\0").  The client then
 * waits for the server, so the one pkt-line is all there is to route on.
 *
 * The user is the first component of the path: /alice/repo.git and
 * /~alice/repo.git (sent by git as ~alice/repo.git) both name alice.  A
 * path of one component, such as /repo.git, names no user.  The table
 * given with -c maps users to backends, one `user host[:port]' a line,
 * with `*' for the users it does not name; the port defaults to 9418.
 * A line may add connect=SECS (each attempt's timeout) and proxy=1 or
 * proxy=2 (a PROXY protocol header of that version to the backend).
 * The request is forwarded unchanged.  A user that the table does not
 * route gets a git ERR pkt-line, which the client shows as a remote error;
 * anything that is not a git request is closed without a word.
 *
 * Parsing allocates nothing and copies nothing.  The table lives in static
 * storage: a reload builds the second of two tables and puts it in force
 * only when the whole file was good.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include "../router.h"

/*
 * GIT_MAXROUTES bounds the users in one table (the default `*' is not
 * counted).  Each costs about 150 bytes, twice: the table in force and the
 * one a reload builds.
 */
#ifndef GIT_MAXROUTES
#define GIT_MAXROUTES	1024
#endif

/*
 * GIT_NAMESPACE bounds the bytes of all the user names of one table put
 * together (each name counts its length plus one), also twice.
 */
#ifndef GIT_NAMESPACE
#define GIT_NAMESPACE	(32 * 1024)
#endif

/* Each connect attempt's timeout, unless the table line says connect=. */
#ifndef GIT_CONNECT_MS
#define GIT_CONNECT_MS	5000
#endif

/* The git daemon's port, for table lines that give only a host. */
#define GIT_PORT	"9418"

/* The largest pkt-line git allows: 65520 bytes, the length included. */
#define GIT_PKTMAX	65520

/*
 * A user or path quoted in a log line or an ERR reply: at most this many
 * characters, its escapes and the "..." that ends it cut short included.
 */
#define GIT_QUOTEMAX	64

struct gitroute {
	size_t			 name;		/* offset in names[] */
	size_t			 namelen;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 connect_ms;	/* each attempt's timeout */
	int			 proxy;		/* PROXY header version, 0 */
};

struct gittable {
	struct gitroute		 routes[GIT_MAXROUTES];	/* sorted by name */
	size_t			 nroutes;
	struct gitroute		 def;			/* `*' */
	int			 hasdef;
	char			 names[GIT_NAMESPACE];
	size_t			 namesused;
};

/* A parsed request: pointers into the client's bytes. */
struct gitreq {
	const char	*svc;
	size_t		 svclen;
	const char	*path;
	size_t		 pathlen;
	const char	*user;		/* NULL: the path names no user */
	size_t		 userlen;
};

enum gitparse { GIT_MORE, GIT_BAD, GIT_OK };

const char	router_name[] = "git";
const int	router_lookups = 0;	/* it looks no name up */

static const char *const services[] = {
	"git-upload-pack",
	"git-receive-pack",
	"git-upload-archive"
};
#define NSERVICES	(sizeof(services) / sizeof(services[0]))

static struct gittable	tables[2];
static int		cur;		/* index of the table in force */
static char		errpkt[4 + 128 + GIT_QUOTEMAX];
static char		failpkt[4 + 128 + GIT_QUOTEMAX];

/*
 * Parse the git request in the len bytes at buf into req.  Return GIT_OK
 * when the request's pkt-line is complete and well formed, GIT_MORE when
 * the bytes so far may still become one, and GIT_BAD, with the reason in
 * *why, when they never will.  Bytes after the pkt-line are not looked at.
 */
static enum gitparse
git_parse(const unsigned char *buf, size_t len, struct gitreq *req,
    const char **why)
{
	const char	*p, *end, *nul;
	size_t		 pktlen, have, want, i, n;
	int		 d;

	/* The length: four hex digits, checked as they arrive. */
	pktlen = 0;
	for (i = 0; i < 4; i++) {
		if (i == len)
			return GIT_MORE;
		if ((d = pm_hexval(buf[i])) == -1) {
			*why = "not a git request (bad pkt-line length)";
			return GIT_BAD;
		}
		pktlen = pktlen * 16 + (size_t)d;
	}
	if (pktlen == 0) {
		*why = "flush packet instead of a request";
		return GIT_BAD;
	}
	if (pktlen <= 4) {
		*why = "pkt-line length too small for a request";
		return GIT_BAD;
	}
	if (pktlen > GIT_PKTMAX) {
		*why = "pkt-line length larger than git allows";
		return GIT_BAD;
	}

	/* The service and its space, checked as they arrive. */
	p = (const char *)buf + 4;
	have = (len < pktlen ? len : pktlen) - 4;
	for (i = 0; i < NSERVICES; i++) {
		n = strlen(services[i]);
		want = have < n + 1 ? have : n + 1;
		if (memcmp(p, services[i], want < n ? want : n) == 0 &&
		    (want <= n || p[n] == ' '))
			break;
	}
	if (i == NSERVICES) {
		*why = "unknown service";
		return GIT_BAD;
	}
	if (len < pktlen)
		return GIT_MORE;
	if (have < n + 1) {
		*why = "request cut short in the service";
		return GIT_BAD;
	}
	req->svc = services[i];
	req->svclen = n;

	/*
	 * The path runs to the first NUL; the parameters after it are the
	 * backend's business.  Without a NUL, a trailing newline is not
	 * part of the path (as git-daemon reads it).
	 */
	p += n + 1;
	end = (const char *)buf + pktlen;
	if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL) {
		nul = end;
		if (nul > p && nul[-1] == '\n')
			nul--;
	}
	req->path = p;
	req->pathlen = (size_t)(nul - p);
	if (req->pathlen == 0) {
		*why = "request without a path";
		return GIT_BAD;
	}
	if (*p != '/' && *p != '~') {
		*why = "path neither absolute nor ~user";
		return GIT_BAD;
	}

	/* The user: the first component, when a second one follows. */
	if (*p == '/')
		p++;
	if (p < nul && *p == '~')
		p++;
	req->user = NULL;
	req->userlen = 0;
	for (i = 0; p + i < nul; i++)
		if (p[i] == '/') {
			if (i > 0) {
				req->user = p;
				req->userlen = i;
			}
			break;
		}
	return GIT_OK;
}

/*
 * Compare the name of route r in table t with the len bytes at s, as
 * memcmp(3) does, shorter names first.  Return <0, 0 or >0.
 */
static int
namecmp(const struct gittable *t, const struct gitroute *r, const char *s,
    size_t len)
{
	int	c;

	c = memcmp(t->names + r->name, s, r->namelen < len ?
	    r->namelen : len);
	if (c != 0)
		return c;
	if (r->namelen == len)
		return 0;
	return r->namelen < len ? -1 : 1;
}

/*
 * Find the user named by the len bytes at s in table t.  Return its index,
 * with *found set to 1, or the index where it would be inserted, with
 * *found set to 0.
 */
static size_t
git_find(const struct gittable *t, const char *s, size_t len, int *found)
{
	size_t	lo, hi, mid;
	int	c;

	lo = 0;
	hi = t->nroutes;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = namecmp(t, &t->routes[mid], s, len);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

/*
 * Add one table line to the table at arg.  Return 0, or -1 with the
 * problem in err.
 */
static int
git_line(void *arg, char *line, char *err, size_t errlen)
{
	struct gittable		*t = arg;
	struct gitroute		*r;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			*f[4];
	size_t			 at, len;
	int			 i, n, found, ms = GIT_CONNECT_MS, proxy = 0;

	if ((n = pm_conf_split(line, f, 4)) == -1) {
		snprintf(err, errlen, "too many fields (want: user "
		    "host[:port] [connect=SECS] [proxy=1|2])");
		return -1;
	}
	for (i = 2; i < n; i++) {
		if (strcmp(f[i], "proxy=1") == 0 || strcmp(f[i], "proxy=2") == 0)
			proxy = f[i][6] - '0';
		else if (strncmp(f[i], "connect=", 8) != 0 ||
		    pm_conf_secs(f[i] + 8, &ms) == -1) {
			snprintf(err, errlen, "%s: expected connect=SECS (up "
			    "to %d, three decimals at most; 0: the system's) "
			    "or proxy=1|2", f[i], PM_CONF_MAXSECS);
			return -1;
		}
	}
	if (n < 2) {
		snprintf(err, errlen, "no host[:port] after `%s'", f[0]);
		return -1;
	}
	len = strlen(f[0]);
	if (strchr(f[0], '/') != NULL) {
		snprintf(err, errlen, "user `%s' contains a slash", f[0]);
		return -1;
	}
	if (f[0][0] == '~') {
		snprintf(err, errlen, "user `%s': write it without the `~'",
		    f[0]);
		return -1;
	}
	if (pm_addr_parse(f[1], GIT_PORT, &ss, &sslen, err, errlen) == -1)
		return -1;

	if (strcmp(f[0], "*") == 0) {
		if (t->hasdef) {
			snprintf(err, errlen, "a second default `*'");
			return -1;
		}
		t->hasdef = 1;
		r = &t->def;
	} else {
		at = git_find(t, f[0], len, &found);
		if (found) {
			snprintf(err, errlen, "user `%s' given twice", f[0]);
			return -1;
		}
		if (t->nroutes == GIT_MAXROUTES) {
			snprintf(err, errlen, "more than %d users (build with "
			    "-DGIT_MAXROUTES=N for more)", GIT_MAXROUTES);
			return -1;
		}
		if (len + 1 > sizeof(t->names) - t->namesused) {
			snprintf(err, errlen, "more than %d bytes of user "
			    "names (build with -DGIT_NAMESPACE=N for more)",
			    GIT_NAMESPACE);
			return -1;
		}
		memmove(&t->routes[at + 1], &t->routes[at],
		    (t->nroutes - at) * sizeof(t->routes[0]));
		t->nroutes++;
		r = &t->routes[at];
		r->name = t->namesused;
		r->namelen = len;
		memcpy(t->names + t->namesused, f[0], len + 1);
		t->namesused += len + 1;
	}
	memcpy(&r->addr, &ss, sslen);
	r->addrlen = sslen;
	r->connect_ms = ms;
	r->proxy = proxy;
	return 0;
}

/*
 * Load the table at path into the table not in force, and put it in force
 * if every line was good.  Return 0, or -1 with `path:line: problem' in
 * err, the table in force unchanged.
 */
int
router_load(const char *path, char *err, size_t errlen)
{
	struct gittable	*t = &tables[!cur];

	if (path == NULL) {
		snprintf(err, errlen, "the git router needs a routing table: "
		    "give one with -c file");
		return -1;
	}
	t->nroutes = 0;
	t->hasdef = 0;
	t->namesused = 0;
	if (pm_conf_read(path, git_line, t, err, errlen) == -1)
		return -1;
	cur = !cur;
	pm_log(PM_LOG_NOTICE, "git: %s: %zu user%s, %s", path, t->nroutes,
	    t->nroutes == 1 ? "" : "s",
	    t->hasdef ? "a default" : "no default");
	return 0;
}

/*
 * Write into pkt (size pktlen) a git ERR pkt-line: "proxymachine: ",
 * what, the len bytes at s quoted, then tail.  Return its length.
 */
static size_t
git_errpkt(char *pkt, size_t pktlen, const char *what, const char *s,
    size_t len, const char *tail)
{
	static const char	 hex[] = "0123456789abcdef";
	char			 q[GIT_QUOTEMAX + 1];
	size_t			 n;
	int			 i;

	n = (size_t)snprintf(pkt + 4, pktlen - 4,
	    "ERR proxymachine: %s '%s'%s\n", what,
	    pm_quote(s, len, q, sizeof(q)), tail);
	if (n >= pktlen - 4)
		n = pktlen - 5;
	n += 4;
	for (i = 0; i < 4; i++)
		pkt[i] = hex[(n >> (12 - 4 * i)) & 0xf];
	return n;
}

/*
 * Set route to close the client with a git ERR pkt-line saying what and
 * then the len bytes at s quoted.  Return nothing.
 */
static void
git_refuse(struct pm_route *route, const char *what, const char *s,
    size_t len)
{
	route->action = PM_CLOSE;
	route->reply = errpkt;
	route->replylen = git_errpkt(errpkt, sizeof(errpkt), what, s, len,
	    "");
}

/*
 * Decide for the len bytes at buf from the client at peer: wait for the
 * rest of the request, close on garbage, refuse an unrouted user, or
 * forward the request to the user's backend.  Return nothing: the
 * decision is in route.
 */
void
router_route(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, int expired, struct pm_route *route)
{
	const struct gittable	*t = &tables[cur];
	const struct gitroute	*r;
	struct gitreq		 req;
	enum gitparse		 res;
	const char		*why = NULL;
	char			 qp[GIT_QUOTEMAX + 1];
	char			 qu[GIT_QUOTEMAX + 1];
	size_t			 at;
	int			 found;

	(void)peer;		/* the core logs the client */

	if ((res = git_parse(buf, len, &req, &why)) != GIT_OK) {
		if (res == GIT_MORE && !expired) {
			route->action = PM_NOOP;
			return;
		}
		if (res == GIT_MORE)
			why = "request incomplete";
		pm_note("git: closed: %s", why);
		route->action = PM_CLOSE;
		return;
	}

	pm_quote(req.path, req.pathlen, qp, sizeof(qp));
	r = NULL;
	if (req.user != NULL) {
		at = git_find(t, req.user, req.userlen, &found);
		if (found)
			r = &t->routes[at];
		pm_quote(req.user, req.userlen, qu, sizeof(qu));
	}
	if (r == NULL && t->hasdef)
		r = &t->def;
	if (r == NULL) {
		if (req.user != NULL) {
			pm_note("git: %.*s '%s': no route for user '%s'",
			    (int)req.svclen, req.svc, qp, qu);
			git_refuse(route, "no route for user", req.user,
			    req.userlen);
		} else {
			pm_note("git: %.*s '%s': no user in the path",
			    (int)req.svclen, req.svc, qp);
			git_refuse(route, "no user in path", req.path,
			    req.pathlen);
		}
		return;
	}
	pm_note("git: %.*s '%s': %s%s%s", (int)req.svclen, req.svc, qp,
	    req.user != NULL ? "user '" : "no user",
	    req.user != NULL ? qu : "", req.user != NULL ? "'" : "");
	route->action = PM_REMOTE;
	memcpy(&route->addr, &r->addr, r->addrlen);
	route->addrlen = r->addrlen;
	route->data = NULL;
	route->connect_ms = r->connect_ms;
	route->proxy = r->proxy;
	/* If the backend cannot be reached, git says so, not just EOF. */
	route->fail_reply = failpkt;
	if (req.user != NULL)
		route->fail_replylen = git_errpkt(failpkt, sizeof(failpkt),
		    "backend for", req.user, req.userlen, " unreachable");
	else
		route->fail_replylen = git_errpkt(failpkt, sizeof(failpkt),
		    "backend for", req.path, req.pathlen, " unreachable");
}

/* Never called: this router asks for no lookup. */
void
router_resolved(const unsigned char *buf, size_t len,
    const struct sockaddr *peer, const struct pm_answer *answer,
    struct pm_route *route)
{
	(void)buf;
	(void)len;
	(void)peer;
	(void)answer;
	(void)route;
}

/*
 * Note that the backend could not be reached (the line logged at the
 * close names it); the git client gets the ERR pkt-line of fail_reply.
 * Return nothing.
 */
void
router_connect_error(const struct pm_route *route)
{
	(void)route;
	pm_note("git: backend unreachable");
}

/*
 * Note that the backend sent nothing before the inactivity timeout.
 * Return nothing.
 */
void
router_idle_error(const struct pm_route *route)
{
	(void)route;
	pm_note("git: backend sent nothing");
}
