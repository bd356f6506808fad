/*
 * sniff.c: the names a client asks for in its first bytes, for the custom
 * router's sni, alpn and host lines: the server name (RFC 6066) and the
 * ALPN protocols (RFC 7301) of a TLS ClientHello (RFC 8446), and the Host
 * of an HTTP/1.x request head (RFC 9112).
 *
 * routers/custom.c includes this file, so that `make ROUTER=custom'
 * builds one router file as every other; fuzz/sniff.c includes it too.
 * Each parser looks at every byte the client has sent so far and answers
 * SNIFF_MORE while more bytes may still decide, SNIFF_NO as soon as the
 * bytes cannot be what it parses (or it could only finish past max
 * bytes), and SNIFF_OK once the message is whole.  It reads the bytes in
 * order and answers at the first byte that decides, never looking past
 * it, so the answer for some bytes is the answer for any longer run of
 * bytes that starts with them: however the network splits a message, the
 * router decides the same.
 *
 * Copyright (c) 2026 The proxymachine authors.  MIT licence: see LICENSE.
 */

#include <stddef.h>
#include <string.h>

#include "../router.h"

enum sniff { SNIFF_MORE, SNIFF_NO, SNIFF_OK };

/* The longest name: a DNS name of 253 bytes, a trailing dot and a port. */
#define SNIFF_NAMEMAX	261

/*
 * What sniff_tls() found in a ClientHello: its server name (a host_name
 * of 1 to SNIFF_NAMEMAX bytes; snilen 0: none) and its ALPN protocol
 * list (a ProtocolNameList body; alpnlen 0: none).  The pointers are into
 * the bytes parsed, or into sniff.c's own copy of a hello that came in
 * several TLS records, valid until the next call.
 */
struct sniff_hello {
	const unsigned char	*sni;
	size_t			 snilen;
	const unsigned char	*alpn;
	size_t			 alpnlen;
};

/*
 * What sniff_http() found in a request head: the host, without its port,
 * and the port (portlen 0: none), from the Host field or an
 * absolute-form target.  hostlen is 0 when there is none (HTTP/1.0
 * without Host).
 */
struct sniff_host {
	char		 name[SNIFF_NAMEMAX + 1];
	size_t		 hostlen;
	const char	*port;
	size_t		 portlen;
};

enum sniff	sniff_tls(const unsigned char *, size_t, size_t,
		    struct sniff_hello *);
enum sniff	sniff_http(const unsigned char *, size_t, size_t,
		    struct sniff_host *);
int		sniff_name_match(const char *, size_t, const unsigned char *,
		    size_t);
int		sniff_alpn_has(const struct sniff_hello *,
		    const unsigned char *, size_t);
int		sniff_name_ok(const unsigned char *, size_t, int);

/* A ClientHello in several records is put together here. */
static unsigned char	sniff_hs[PM_BUFSIZE];

static size_t
be16(const unsigned char *p)
{
	return (size_t)p[0] << 8 | p[1];
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * Return whether the n bytes at s are a host name the tables can match:
 * letters, digits, `-' and `_' in labels of 1 to 63 bytes, separated by
 * dots, 253 bytes at most, with a trailing dot when dot is set.  IPv4
 * literals pass (they are digits and dots); `*' as a first label passes
 * when dot is 2, for a table's wildcard.
 */
int
sniff_name_ok(const unsigned char *s, size_t n, int dot)
{
	size_t	 i, label = 0;

	if (dot && n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return 0;
	if (dot == 2 && n > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		n -= 2;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if ((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_') {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return label > 0;
}

/*
 * Return whether name (n bytes, a trailing dot ignored) matches the
 * table's pattern pat (plen bytes, lower case, no trailing dot): the same
 * name in any case, or for `*.example.org' any name of one label or more
 * before `.example.org', but not example.org itself.
 */
int
sniff_name_match(const char *pat, size_t plen, const unsigned char *name,
    size_t n)
{
	size_t	 i;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (plen > 1 && pat[0] == '*' && pat[1] == '.') {
		/* The suffix with its dot; at least one byte before it. */
		pat++;
		plen--;
		if (n <= plen)
			return 0;
		name += n - plen;
		n = plen;
	}
	if (n != plen)
		return 0;
	for (i = 0; i < n; i++)
		if (lower(name[i]) != (unsigned char)pat[i])
			return 0;
	return 1;
}

/*
 * Return whether the hello offers the ALPN protocol p (n bytes, compared
 * byte for byte, as RFC 7301 says).
 */
int
sniff_alpn_has(const struct sniff_hello *h, const unsigned char *p, size_t n)
{
	size_t	 i, l;

	for (i = 0; i < h->alpnlen; i += 1 + l) {
		l = h->alpn[i];
		if (l == n && memcmp(h->alpn + i + 1, p, n) == 0)
			return 1;
	}
	return 0;
}

/*
 * Parse the body of a ClientHello, n bytes at p (its handshake header
 * gone), into h.  Return SNIFF_OK, or SNIFF_NO when it breaks RFC 8446's
 * grammar, repeats the server_name or ALPN extension, names a host_name
 * twice or one that is not a host name, or lists an empty protocol.
 */
static enum sniff
hello_body(const unsigned char *p, size_t n, struct sniff_hello *h)
{
	size_t	 i, l, end, type, elen, j, k;

	/* legacy_version, random, legacy_session_id<0..32>. */
	if (n < 35 || p[0] != 3 || p[34] > 32)
		return SNIFF_NO;
	i = 35 + p[34];
	/* cipher_suites<2..2^16-2>, legacy_compression_methods<1..>. */
	if (i + 2 > n || (l = be16(p + i)) < 2 || l % 2 != 0 ||
	    (i += 2 + l) + 1 > n || p[i] == 0 || (i += 1 + p[i]) > n)
		return SNIFF_NO;
	if (i == n)
		return SNIFF_OK;	/* no extensions (before TLS 1.3) */
	/* extensions<8..2^16-1>, the rest of the message exactly. */
	if (i + 2 > n || be16(p + i) != n - i - 2)
		return SNIFF_NO;
	for (i += 2; i < n; i += elen) {
		if (i + 4 > n || (elen = be16(p + i + 2)) > n - i - 4)
			return SNIFF_NO;
		type = be16(p + i);
		i += 4;
		end = i + elen;
		if (type == 0) {
			/* server_name: ServerNameList<1..2^16-1>. */
			if (h->sni != NULL || elen < 2 ||
			    be16(p + i) != elen - 2 || elen == 2)
				return SNIFF_NO;
			for (j = i + 2; j < end; j += 3 + k) {
				if (j + 3 > end ||
				    (k = be16(p + j + 1)) > end - j - 3 ||
				    k == 0)
					return SNIFF_NO;
				if (p[j] != 0)
					continue;	/* not host_name */
				if (h->sni != NULL ||
				    !sniff_name_ok(p + j + 3, k, 1))
					return SNIFF_NO;
				h->sni = p + j + 3;
				h->snilen = k;
			}
			if (h->sni == NULL)
				h->sni = p + end;	/* seen, no name */
		} else if (type == 16) {
			/* ALPN: ProtocolNameList<2..2^16-1>. */
			if (h->alpn != NULL || elen < 4 ||
			    be16(p + i) != elen - 2)
				return SNIFF_NO;
			for (j = i + 2; j < end; j += 1 + p[j])
				if (p[j] == 0 || p[j] > end - j - 1)
					return SNIFF_NO;
			h->alpn = p + i + 2;
			h->alpnlen = elen - 2;
		}
	}
	return SNIFF_OK;
}

/*
 * Parse the TLS ClientHello in the len bytes at buf, which may come in
 * several handshake records (RFC 8446 5.1), into h.  The whole hello
 * must fit in max bytes.  Return SNIFF_MORE, SNIFF_NO or SNIFF_OK (the
 * file's comment); the bytes after the hello are not looked at.
 */
enum sniff
sniff_tls(const unsigned char *buf, size_t len, size_t max,
    struct sniff_hello *h)
{
	const unsigned char	*body;
	unsigned char		 hdr[4];
	size_t			 off, rlen, have, take, want, got;

	memset(h, 0, sizeof(*h));
	if (len > max)
		len = max;
	/*
	 * Walk the records, counting the handshake bytes they bring, until
	 * they hold the whole hello: a handshake record (22) of version
	 * 3.x, of 1 to 2^14 bytes, each.
	 */
	want = 0;
	have = 0;
	for (off = 0; off < len; off += 5 + rlen) {
		if (buf[off] != 22 || (off + 1 < len && buf[off + 1] != 3) ||
		    (off + 2 < len && buf[off + 2] > 4))
			return SNIFF_NO;
		if (off + 5 > len)
			break;
		rlen = be16(buf + off + 3);
		if (rlen == 0 || rlen > 16384)
			return SNIFF_NO;
		take = len - off - 5 < rlen ? len - off - 5 : rlen;
		/* The handshake header, maybe split over records. */
		for (got = 0; have + got < 4 && got < take; got++)
			hdr[have + got] = buf[off + 5 + got];
		if (have < 4 && have + got >= 1 && hdr[0] != 1)
			return SNIFF_NO;	/* not a client_hello */
		have += take;
		if (want == 0 && have >= 4) {
			want = 4 + ((size_t)hdr[1] << 16 |
			    (size_t)hdr[2] << 8 | hdr[3]);
			/* Four record headers at least in 2^16 + 4. */
			if (want > max || want + 5 * (want / 16385 + 1) >
			    max)
				return SNIFF_NO;
		}
		if (want != 0 && have >= want)
			break;
		if (take < rlen)
			break;
	}
	if (want == 0 || have < want)
		return len >= max ? SNIFF_NO : SNIFF_MORE;

	if (be16(buf + 3) >= want)
		body = buf + 5 + 4;	/* in the first record */
	else {
		got = 0;
		for (off = 0; got < want; off += 5 + rlen) {
			rlen = be16(buf + off + 3);
			take = want - got < rlen ? want - got : rlen;
			memcpy(sniff_hs + got, buf + off + 5, take);
			got += take;
		}
		body = sniff_hs + 4;
	}
	if (hello_body(body, want - 4, h) == SNIFF_NO) {
		memset(h, 0, sizeof(*h));
		return SNIFF_NO;
	}
	if (h->snilen == 0)
		h->sni = NULL;
	return SNIFF_OK;
}

/* RFC 9110's tchar: the bytes of a token (a method, a field name). */
static int
tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && c != ':' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Split the authority or Host value at s (n bytes, no blank at either
 * end) into h.  Return 0, or -1 when it is not uri-host [":" port] or
 * does not fit.
 */
static int
host_set(const char *s, size_t n, struct sniff_host *h)
{
	size_t	 i, hl;

	if (n == 0 || n > SNIFF_NAMEMAX)
		return -1;
	memcpy(h->name, s, n);
	h->name[n] = '\0';
	if (h->name[0] == '[') {
		/* An IP-literal: hex digits, colons, dots. */
		for (hl = 1; hl < n && h->name[hl] != ']'; hl++)
			if (strchr("0123456789abcdefABCDEF:.", h->name[hl]) ==
			    NULL)
				return -1;
		if (hl == n || hl == 1)
			return -1;
		hl++;
	} else {
		for (hl = 0; hl < n && h->name[hl] != ':'; hl++)
			if (!((h->name[hl] >= 'a' && h->name[hl] <= 'z') ||
			    (h->name[hl] >= 'A' && h->name[hl] <= 'Z') ||
			    (h->name[hl] >= '0' && h->name[hl] <= '9') ||
			    strchr("-._~!$&'()*+,;=%", h->name[hl]) != NULL))
				return -1;
		if (hl == 0)
			return -1;
	}
	if (hl < n && h->name[hl] != ':')
		return -1;
	for (i = hl + 1; i < n; i++)
		if (h->name[i] < '0' || h->name[i] > '9')
			return -1;
	h->hostlen = hl;
	h->port = hl < n ? h->name + hl + 1 : NULL;
	h->portlen = hl < n ? n - hl - 1 : 0;
	return 0;
}

/*
 * Parse the HTTP/1.x request head in the len bytes at buf into h: the
 * request line (empty lines before it skipped, a bare LF taken for CRLF,
 * RFC 9112 2.2), then the fields to the empty line; obs-fold lines are
 * joined to their field with a blank (5.2).  Return SNIFF_MORE, SNIFF_NO
 * (not a request head of HTTP/1.x; an invalid field; a repeated Host; no
 * Host in HTTP/1.1; a Host that is not a host and port; no end within
 * max bytes) or SNIFF_OK (the file's comment).
 */
enum sniff
sniff_http(const unsigned char *buf, size_t len, size_t max,
    struct sniff_host *h)
{
	static const char	 ver[] = "HTTP/1.";
	const unsigned char	*v;
	size_t			 i, j, tgt, tlen, vlen, hosts, fields, flen;
	int			 inhost, minor;
	char			 val[SNIFF_NAMEMAX + 1];

	memset(h, 0, sizeof(*h));
	if (len > max)
		len = max;
#define NEED(n)	do { if (i + (n) > len) \
		return len >= max ? SNIFF_NO : SNIFF_MORE; } while (0)
	i = 0;
	for (;;) {
		NEED(1);
		if (buf[i] == '\n')
			i++;
		else if (buf[i] == '\r') {
			NEED(2);
			if (buf[i + 1] != '\n')
				return SNIFF_NO;
			i += 2;
		} else
			break;
	}
	/* method SP request-target SP HTTP-version CRLF */
	for (j = i; i < len && tchar(buf[i]); i++)
		;
	NEED(1);
	if (buf[i] != ' ' || i == j)
		return SNIFF_NO;
	tgt = ++i;
	for (; i < len && buf[i] > ' ' && buf[i] < 0x7f; i++)
		;
	NEED(1);
	tlen = i - tgt;
	if (buf[i] != ' ' || tlen == 0)
		return SNIFF_NO;
	for (j = 0, i++; j < sizeof(ver) - 1; j++, i++) {
		NEED(1);
		if (buf[i] != (unsigned char)ver[j])
			return SNIFF_NO;
	}
	NEED(1);
	if (buf[i] < '0' || buf[i] > '9')
		return SNIFF_NO;
	minor = buf[i++] - '0';
	NEED(1);
	if (buf[i] == '\r') {
		i++;
		NEED(1);
	}
	if (buf[i++] != '\n')
		return SNIFF_NO;

	/* field-name ":" OWS field-value OWS, each line to its LF. */
	hosts = fields = flen = 0;
	inhost = 0;
	for (;;) {
		NEED(1);
		if (buf[i] == '\r' || buf[i] == '\n') {
			/* The empty line ends the head. */
			if (buf[i] == '\r') {
				NEED(2);
				if (buf[i + 1] != '\n')
					return SNIFF_NO;
			}
			break;
		}
		if (buf[i] == ' ' || buf[i] == '\t') {
			/* obs-fold: the line goes on the field before. */
			if (fields == 0)
				return SNIFF_NO;
			v = buf + i;
		} else {
			for (j = i; i < len && tchar(buf[i]); i++)
				;
			NEED(1);
			if (buf[i] != ':' || i == j)
				return SNIFF_NO;
			fields++;
			inhost = i - j == 4 && lower(buf[j]) == 'h' &&
			    lower(buf[j + 1]) == 'o' &&
			    lower(buf[j + 2]) == 's' &&
			    lower(buf[j + 3]) == 't';
			if (inhost && ++hosts > 1)
				return SNIFF_NO;	/* RFC 9112 3.2 */
			v = buf + ++i;
		}
		/* The value: no NUL, no CR but before LF. */
		for (; i < len && buf[i] != '\n'; i++)
			if (buf[i] == '\0' || (buf[i] == '\r' &&
			    i + 1 < len && buf[i + 1] != '\n'))
				return SNIFF_NO;
		NEED(1);
		vlen = (size_t)(buf + i - v);
		if (vlen > 0 && v[vlen - 1] == '\r')
			vlen--;
		i++;
		if (!inhost)
			continue;
		/* Keep the Host value, folds joined by one blank. */
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == ' ' ||
		    v[vlen - 1] == '\t'))
			vlen--;
		if (vlen == 0)
			continue;
		if (flen + (flen > 0) + vlen > SNIFF_NAMEMAX)
			return SNIFF_NO;
		if (flen > 0)
			val[flen++] = ' ';
		memcpy(val + flen, v, vlen);
		flen += vlen;
	}
#undef NEED

	/* HTTP/1.1 must send Host (RFC 9112 3.2). */
	if (hosts == 0 && minor >= 1)
		return SNIFF_NO;
	/* An absolute-form target names the host (3.2.2). */
	for (j = 0; j < tlen && buf[tgt + j] != ':' && buf[tgt + j] != '/';
	    j++)
		;
	if (j > 0 && j + 3 <= tlen && memcmp(buf + tgt + j, "://", 3) == 0) {
		tgt += j + 3;
		tlen -= j + 3;
		for (j = 0; j < tlen && buf[tgt + j] != '/' &&
		    buf[tgt + j] != '?' && buf[tgt + j] != '#'; j++)
			if (buf[tgt + j] == '@')
				return SNIFF_NO;
		return host_set((const char *)buf + tgt, j, h) == -1 ?
		    SNIFF_NO : SNIFF_OK;
	}
	if (hosts == 0)
		return SNIFF_OK;
	return host_set(val, flen, h) == -1 ? SNIFF_NO : SNIFF_OK;
}
