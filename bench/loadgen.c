/*
 * loadgen: the benchmark's load generator (see ../shared/BENCH.md).
 *
 * One thread, epoll, raw RFC 6455 client framing, Engine.IO v4 and
 * Socket.IO v5 text packets over websocket; answers pings. Prints one JSON
 * object with the figures of the scenario.
 *
 *   loadgen --port P --scenario NAME [--clients N] [--inflight K] [--rate R]
 *           [--warmup S] [--duration S] [--server-pid PID] [--concurrency C]
 *           [--port2 P2]
 *
 * With --port2 every other client connects to a second server (redis_fanout:
 * two servers sharing the room through Redis). --users 1: each client
 * connects with auth {userId: "u<index>"} (presence). Scenario query: every
 * client connected, client 0 asks get-presence for all their users, over
 * and over (the time of a bulk query).
 * Scenarios: fanout (broadcasts to every client, K in flight or R per
 * second), echo (acks, closed loop or R per client per second), idle (N
 * connections held), connrate (N connections, C connecting at a time).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { S_CONNECTING, S_UPGRADE, S_EIO, S_SIO, S_READY, S_DEAD };

struct pclient;

enum { ROLE_WS = 0, ROLE_GET, ROLE_POST };

struct conn {
	int fd, state, idx, role;
	struct pclient *pc;
	unsigned char *rbuf;
	size_t rlen, rcap;
	unsigned char *wbuf;
	size_t wlen, wcap;
	int want_out;
	/* echo */
	long long next_id;
	uint64_t sent_at, next_at;
	int waiting;
};

static int port = 3000, nclients = 100, inflight = 1, concurrency = 200;
/* a second server (redis_fanout): every other client connects to it */
static int port2;
/* --users 1: each client connects with auth {userId: "u<index>"}
 * (presence); the query scenario: client 0 asks "get-presence" for every
 * client's user, closed loop, the others idle */
static int users, query_mode;
static char *query_msg;
static size_t query_len;
static int polling;
static double rate = 0, warmup = 3, duration = 10;
static const char *scenario = "echo";
static int server_pid;
static int ep;
static struct conn *conns;
static int nready, nfailed, nstarted;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- latency histogram: 1 us buckets to 100 ms, then 1 ms to 60 s ---- */

#define H_US 100000
#define H_MS 60000
static uint64_t hist_us[H_US], hist_ms[H_MS], hist_n;

static void hist_add(uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (us < H_US)
		hist_us[us]++;
	else if (us / 1000 < H_MS)
		hist_ms[us / 1000]++;
	else
		hist_ms[H_MS - 1]++;
	hist_n++;
}

static double hist_pct(double p)
{
	uint64_t want = (uint64_t)ceil(p / 100.0 * (double)hist_n), acc = 0;

	if (!hist_n)
		return 0;
	for (int i = 0; i < H_US; i++)
		if ((acc += hist_us[i]) >= want)
			return i / 1000.0;
	for (int i = 0; i < H_MS; i++)
		if ((acc += hist_ms[i]) >= want)
			return (double)i;
	return H_MS;
}

/* ---- CPU and memory from /proc --------------------------------------- */

static double proc_cpu_s(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = atol(line + 6);
	fclose(f);
	return kb;
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* ---- I/O --------------------------------------------------------------- */

static void die(const char *m)
{
	fprintf(stderr, "loadgen: %s: %s\n", m, strerror(errno));
	exit(1);
}

static void set_events(struct conn *c, int out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

	if (c->want_out != out) {
		c->want_out = out;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static void conn_kill(struct conn *c)
{
	if (c->state == S_DEAD)
		return;
	if (c->state == S_READY && c->role == ROLE_WS)
		nready--;
	c->state = S_DEAD;
	nfailed++;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
}

static void flush_out(struct conn *c)
{
	while (c->wlen) {
		ssize_t n = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_kill(c);
			return;
		}
		memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
		c->wlen -= (size_t)n;
	}
	set_events(c, c->wlen > 0);
}

static void out_raw(struct conn *c, const void *p, size_t n)
{
	if (c->wlen + n > c->wcap) {
		size_t nc = c->wcap ? c->wcap : 4096;

		while (nc < c->wlen + n)
			nc *= 2;
		c->wbuf = realloc(c->wbuf, nc);
		c->wcap = nc;
	}
	memcpy(c->wbuf + c->wlen, p, n);
	c->wlen += n;
}

/* a masked text frame (mask 0: XOR is a no-op, still a valid client frame) */
static void out_text(struct conn *c, const char *p, size_t n)
{
	unsigned char h[14];
	size_t hl = 0;

	h[hl++] = 0x81;
	if (n < 126) {
		h[hl++] = 0x80 | (unsigned char)n;
	} else if (n < 65536) {
		h[hl++] = 0x80 | 126;
		h[hl++] = (unsigned char)(n >> 8);
		h[hl++] = (unsigned char)n;
	} else {
		h[hl++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	memset(h + hl, 0, 4);
	hl += 4;
	out_raw(c, h, hl);
	out_raw(c, p, n);
}

static void send_text(struct conn *c, const char *p, size_t n)
{
	out_text(c, p, n);
	flush_out(c);
}

/* One read per readiness (epoll is level-triggered and reports again):
 * > 0 bytes added, 0 nothing yet, < 0 the connection is gone. */
static int read_some(struct conn *c)
{
	ssize_t n;

	if (c->rcap - c->rlen < 65536) {
		c->rcap = c->rcap ? c->rcap * 2 : 131072;
		c->rbuf = realloc(c->rbuf, c->rcap);
	}
	n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		conn_kill(c);
		return -1;
	}
	if (n < 0)
		return 0;
	c->rlen += (size_t)n;
	return 1;
}

/* ---- scenario state ---------------------------------------------------- */

static int measuring, draining;
static uint64_t m_start, m_end;
static uint64_t bc_sent, bc_recv_measured, deliveries_total;
static uint64_t echo_sent, echo_acked, echo_acked_measured;
static long long bc_seq;
static int bc_outstanding;
/* per broadcast: how many clients still have to receive it */
#define BC_RING 65536
static int bc_left[BC_RING];
static uint64_t bc_time[BC_RING];
static uint64_t lost_bc;

static char pad[128];

static void send_bcast(void)
{
	struct conn *c = &conns[0];
	char msg[256];
	long long seq = bc_seq++;
	uint64_t t = now_ns();
	int n;

	if (c->state != S_READY)
		return;
	bc_left[seq % BC_RING] = nready;
	bc_time[seq % BC_RING] = t;
	/* ~100-byte payload: sequence, send time, padding */
	n = snprintf(msg, sizeof(msg), "42[\"bcast\",\"%lld:%llu:%.*s\"]", seq, (unsigned long long)t,
		     60, pad);
	send_text(c, msg, (size_t)n);
	bc_outstanding++;
	bc_sent++;
}

static void on_msg(const char *p, size_t n)
{
	/* 42["msg","seq:t:..."]: parsed by hand, sscanf costs more than the rest */
	const char *q = p + 10, *e = p + n;
	long long seq = 0;
	unsigned long long t = 0;

	if (n < 13 || memcmp(p, "42[\"msg\",\"", 10))
		return;
	while (q < e && *q >= '0' && *q <= '9')
		seq = seq * 10 + (*q++ - '0');
	if (q >= e || *q++ != ':')
		return;
	while (q < e && *q >= '0' && *q <= '9')
		t = t * 10 + (unsigned long long)(*q++ - '0');
	deliveries_total++;
	if (measuring && !draining)
		bc_recv_measured++;
	if (measuring)
		hist_add(now_ns() - (rate > 0 ? bc_time[seq % BC_RING] : (uint64_t)t));
	if (--bc_left[seq % BC_RING] == 0) {
		bc_outstanding--;
		if (!rate && !draining && bc_outstanding < inflight)
			send_bcast();
	}
}

static void send_echo(struct conn *c, uint64_t scheduled)
{
	char msg[256];
	int n;

	if (query_mode) {
		/* 42<id>["get-presence",[...]]: the id goes in front of the list */
		n = snprintf(msg, sizeof(msg), "42%lld", c->next_id++);
		memcpy(query_msg + 32 - n, msg, (size_t)n);
		c->sent_at = scheduled;
		c->waiting = 1;
		echo_sent++;
		send_text(c, query_msg + 32 - n, query_len - 32 + (size_t)n);
		return;
	}
	n = snprintf(msg, sizeof(msg), "42%lld[\"echo\",\"%.*s\"]", c->next_id++, 88, pad);
	c->sent_at = scheduled;
	c->waiting = 1;
	echo_sent++;
	send_text(c, msg, (size_t)n);
}

static void on_ack(struct conn *c)
{
	uint64_t t = now_ns();

	c->waiting = 0;
	echo_acked++;
	if (measuring && !draining) {
		echo_acked_measured++;
		hist_add(t - c->sent_at);
	}
	if (!rate && !draining)
		send_echo(c, now_ns());
}

static void on_ready(struct conn *c)
{
	c->state = S_READY;
	nready++;
}

/* one complete Engine.IO text packet */
static void on_packet(struct conn *c, const char *p, size_t n)
{
	if (n >= 1 && p[0] == '2') { /* ping */
		send_text(c, "3", 1);
		return;
	}
	if (c->state == S_EIO && n >= 1 && p[0] == '0') {
		c->state = S_SIO;
		if (users) {
			char msg[64];
			int m = snprintf(msg, sizeof(msg), "40{\"userId\":\"u%d\"}", c->idx);

			send_text(c, msg, (size_t)m);
		} else {
			send_text(c, "40", 2);
		}
		return;
	}
	if (n < 2 || p[0] != '4')
		return;
	if (c->state == S_SIO && p[1] == '0') {
		on_ready(c);
		return;
	}
	if (p[1] == '2')
		on_msg(p, n);
	else if (p[1] == '3')
		on_ack(c);
}

static void on_readable(struct conn *c)
{
	if (read_some(c) <= 0)
		return;
	if (c->state == S_UPGRADE) {
		unsigned char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);

		if (!end)
			return;
		if (memcmp(c->rbuf, "HTTP/1.1 101", 12)) {
			conn_kill(c);
			return;
		}
		end += 4;
		memmove(c->rbuf, end, c->rlen - (size_t)(end - c->rbuf));
		c->rlen -= (size_t)(end - c->rbuf);
		c->state = S_EIO;
	}
	/* frames */
	size_t off = 0;
	while (c->state != S_DEAD && c->rlen - off >= 2) {
		unsigned char *f = c->rbuf + off;
		size_t hl = 2;
		uint64_t len = f[1] & 0x7f;
		int op = f[0] & 0x0f;

		if (len == 126) {
			if (c->rlen - off < 4)
				break;
			len = ((uint64_t)f[2] << 8) | f[3];
			hl = 4;
		} else if (len == 127) {
			if (c->rlen - off < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = (len << 8) | f[2 + i];
			hl = 10;
		}
		if (c->rlen - off < hl + len)
			break;
		if (op == 1)
			on_packet(c, (const char *)f + hl, (size_t)len);
		else if (op == 8) {
			conn_kill(c);
			return;
		}
		off += hl + (size_t)len;
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}


/* ---- long-polling clients ----------------------------------------------- */

struct pclient {
	struct conn get, post;
	char sid[64];
	int phase; /* 0 handshake, 1 connecting, 2 ready */
	char *q;   /* packets waiting for the next POST, 0x1e-separated */
	size_t qlen, qcap;
	int post_busy, get_busy;
	long long next_id;
	uint64_t sent_at;
	int waiting;
};

static struct pclient *pclients;

static void http_get(struct conn *c, const char *sid)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "GET /socket.io/?EIO=4&transport=polling%s%s HTTP/1.1\r\n"
			 "Host: 127.0.0.1:%d\r\n\r\n",
			 sid ? "&sid=" : "", sid ? sid : "", port);

	out_raw(c, req, (size_t)n);
	flush_out(c);
}

static void pq_add(struct pclient *p, const char *pkt, size_t n)
{
	if (p->qlen + n + 1 > p->qcap) {
		p->qcap = (p->qlen + n + 1) * 2;
		p->q = realloc(p->q, p->qcap);
	}
	if (p->qlen)
		p->q[p->qlen++] = 0x1e;
	memcpy(p->q + p->qlen, pkt, n);
	p->qlen += n;
}

static void pq_flush(struct pclient *p)
{
	char hdr[512];
	int n;

	if (p->post_busy || !p->qlen || p->post.state != S_READY)
		return;
	n = snprintf(hdr, sizeof(hdr),
		     "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
		     "Host: 127.0.0.1:%d\r\nContent-Type: text/plain;charset=UTF-8\r\n"
		     "Content-Length: %zu\r\n\r\n",
		     p->sid, port, p->qlen);
	out_raw(&p->post, hdr, (size_t)n);
	out_raw(&p->post, p->q, p->qlen);
	p->qlen = 0;
	p->post_busy = 1;
	flush_out(&p->post);
}

static void p_echo(struct pclient *p)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "42%lld[\"echo\",\"%.*s\"]", p->next_id++, 88, pad);

	p->sent_at = now_ns();
	p->waiting = 1;
	echo_sent++;
	pq_add(p, msg, (size_t)n);
	pq_flush(p);
}

static void p_packet(struct pclient *p, const char *s, size_t n)
{
	if (n == 1 && s[0] == '2') {
		pq_add(p, "3", 1);
	} else if (n >= 2 && s[0] == '4' && s[1] == '0' && p->phase == 1) {
		p->phase = 2;
		nready++;
	} else if (n >= 2 && s[0] == '4' && s[1] == '3') {
		p->waiting = 0;
		echo_acked++;
		if (measuring && !draining) {
			echo_acked_measured++;
			hist_add(now_ns() - p->sent_at);
		}
		if (!draining)
			p_echo(p);
	}
}

/* a whole HTTP response on one of the two connections */
static void p_response(struct conn *c, const char *body, size_t n)
{
	struct pclient *p = c->pc;

	if (c->role == ROLE_POST) {
		p->post_busy = 0;
		pq_flush(p);
		return;
	}
	p->get_busy = 0;
	if (p->phase == 0) {
		const char *q = memmem(body, n, "\"sid\":\"", 7);
		const char *e = q ? memchr(q + 7, '"', n - (size_t)(q + 7 - body)) : NULL;

		if (!e || (size_t)(e - q - 7) >= sizeof(p->sid)) {
			conn_kill(c);
			return;
		}
		memcpy(p->sid, q + 7, (size_t)(e - q - 7));
		p->sid[e - q - 7] = 0;
		p->phase = 1;
		pq_add(p, "40", 2);
		pq_flush(p);
	} else {
		size_t i = 0;

		while (i < n) {
			const char *sep = memchr(body + i, 0x1e, n - i);
			size_t end = sep ? (size_t)(sep - body) : n;

			p_packet(p, body + i, end - i);
			i = end + 1;
		}
		pq_flush(p);
	}
	p->get_busy = 1;
	http_get(c, p->sid);
}

static void http_readable(struct conn *c)
{
	if (read_some(c) <= 0)
		return;
	for (;;) {
		unsigned char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
		unsigned char *cl;
		size_t hl, bl;

		if (!end)
			return;
		hl = (size_t)(end + 4 - c->rbuf);
		cl = memmem(c->rbuf, hl, "ontent-Length: ", 15);
		if (!cl)
			cl = memmem(c->rbuf, hl, "ontent-length: ", 15);
		bl = cl ? (size_t)atol((char *)cl + 15) : 0;
		if (c->rlen < hl + bl)
			return;
		if (memcmp(c->rbuf + 9, "200", 3)) {
			conn_kill(c);
			return;
		}
		{
			char *body = malloc(bl + 1);

			memcpy(body, c->rbuf + hl, bl);
			memmove(c->rbuf, c->rbuf + hl + bl, c->rlen - hl - bl);
			c->rlen -= hl + bl;
			p_response(c, body, bl);
			free(body);
		}
		if (c->state == S_DEAD)
			return;
	}
}

static void start_conn(struct conn *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)(port2 && (c->idx & 1) ? port2 : port))};
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = S_CONNECTING;
	c->want_out = 1;
	nstarted++;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		die("connect");
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void on_writable(struct conn *c)
{
	if (c->state == S_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		char req[512];
		int n;

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			conn_kill(c);
			return;
		}
		if (c->role == ROLE_GET) {
			c->state = S_READY;
			c->pc->get_busy = 1;
			http_get(c, NULL);
			return;
		}
		if (c->role == ROLE_POST) {
			c->state = S_READY;
			set_events(c, 0);
			pq_flush(c->pc);
			return;
		}
		c->state = S_UPGRADE;
		n = snprintf(req, sizeof(req),
			     "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
			     "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			     "Sec-WebSocket-Version: 13\r\n\r\n",
			     port);
		out_raw(c, req, (size_t)n);
	}
	flush_out(c);
}

static void poll_once(int timeout_ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(ep, evs, 256, timeout_ms);

	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;

		if (c->state == S_DEAD)
			continue;
		if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
			if (c->state == S_CONNECTING) {
				conn_kill(c);
				continue;
			}
		}
		if (evs[i].events & EPOLLOUT)
			on_writable(c);
		if (c->state != S_DEAD && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			c->role == ROLE_WS ? on_readable(c) : http_readable(c);
	}
}

/* open clients [from, to) with at most `concurrency` connecting at once */
static int open_clients(int from, int to, double limit_s)
{
	uint64_t deadline = now_ns() + (uint64_t)(limit_s * 1e9);
	int next = from;

	while (nready + nfailed < to && now_ns() < deadline) {
		while (next < to && (nstarted - nready - nfailed) < concurrency) {
			if (polling) {
				struct pclient *p = &pclients[next++];

				start_conn(&p->get);
				start_conn(&p->post);
				nstarted--; /* one client, two sockets */
			} else {
				start_conn(&conns[next++]);
			}
		}
		poll_once(10);
	}
	return nready;
}

static void run_for(double seconds, void (*tick)(uint64_t now))
{
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	uint64_t t;

	while ((t = now_ns()) < end) {
		if (tick)
			tick(t);
		poll_once(1);
	}
}

/* fixed-rate senders */
static uint64_t next_bc_at;

static void tick_fanout_rate(uint64_t t)
{
	uint64_t period = (uint64_t)(1e9 / rate);

	while (!draining && next_bc_at <= t) {
		send_bcast();
		bc_time[(bc_seq - 1) % BC_RING] = next_bc_at; /* latency from the schedule */
		next_bc_at += period;
	}
}

static void tick_echo_rate(uint64_t t)
{
	uint64_t period = (uint64_t)(1e9 / rate);

	if (draining)
		return;
	for (int i = 0; i < nclients; i++) {
		struct conn *c = &conns[i];

		if (c->state == S_READY && c->next_at <= t) {
			send_echo(c, c->next_at);
			c->next_at += period;
		}
	}
}

static void print_result(const char *extra)
{
	printf("{\"scenario\":\"%s\",\"clients\":%d,\"ready\":%d,\"failed\":%d,%s}\n", scenario,
	       nclients, nready, nfailed, extra);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct rlimit rl = {65536, 65536};
	char extra[2048];

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--port2"))
			port2 = atoi(v);
		else if (!strcmp(a, "--scenario"))
			scenario = v;
		else if (!strcmp(a, "--clients"))
			nclients = atoi(v);
		else if (!strcmp(a, "--inflight"))
			inflight = atoi(v);
		else if (!strcmp(a, "--rate"))
			rate = atof(v);
		else if (!strcmp(a, "--warmup"))
			warmup = atof(v);
		else if (!strcmp(a, "--duration"))
			duration = atof(v);
		else if (!strcmp(a, "--server-pid"))
			server_pid = atoi(v);
		else if (!strcmp(a, "--concurrency"))
			concurrency = atoi(v);
		else if (!strcmp(a, "--users"))
			users = atoi(v);
		else {
			fprintf(stderr, "loadgen: unknown option %s\n", a);
			return 2;
		}
	}
	setrlimit(RLIMIT_NOFILE, &rl);
	memset(pad, 'x', sizeof(pad) - 1);
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll");
	conns = calloc((size_t)nclients, sizeof(*conns));
	for (int i = 0; i < nclients; i++)
		conns[i].idx = i;
	if (!strcmp(scenario, "query")) {
		/* 32 bytes kept in front for "42<id>" */
		size_t cap = 64 + (size_t)nclients * 16, len = 32;

		query_mode = users = 1;
		query_msg = malloc(cap);
		len += (size_t)sprintf(query_msg + len, "[\"get-presence\",[");
		for (int i = 0; i < nclients; i++)
			len += (size_t)sprintf(query_msg + len, "%s\"u%d\"", i ? "," : "", i);
		len += (size_t)sprintf(query_msg + len, "]]");
		query_len = len;
	}
	if (!strcmp(scenario, "polling_echo")) {
		polling = 1;
		pclients = calloc((size_t)nclients, sizeof(*pclients));
		for (int i = 0; i < nclients; i++) {
			pclients[i].get.role = ROLE_GET;
			pclients[i].post.role = ROLE_POST;
			pclients[i].get.pc = pclients[i].post.pc = &pclients[i];
		}
	}

	if (!strcmp(scenario, "idle")) {
		long before = proc_rss_kb(server_pid), after;

		open_clients(0, nclients, 120);
		run_for(1.0, NULL); /* let the server settle */
		after = proc_rss_kb(server_pid);
		snprintf(extra, sizeof(extra),
			 "\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"kb_per_conn\":%.3f,\"lost\":%d",
			 before, after, nready ? (double)(after - before) / nready : 0.0,
			 nclients - nready);
		print_result(extra);
		return 0;
	}
	if (!strcmp(scenario, "connrate")) {
		uint64_t t0 = now_ns();
		double c0 = self_cpu_s(), s0 = proc_cpu_s(server_pid), el;

		open_clients(0, nclients, 120);
		el = (double)(now_ns() - t0) / 1e9;
		snprintf(extra, sizeof(extra),
			 "\"conn_per_s\":%.1f,\"elapsed_s\":%.3f,\"server_cpu_pct\":%.1f,"
			 "\"gen_cpu_pct\":%.1f,\"lost\":%d",
			 nready / el, el, 100 * (proc_cpu_s(server_pid) - s0) / el,
			 100 * (self_cpu_s() - c0) / el, nclients - nready);
		print_result(extra);
		return 0;
	}

	open_clients(0, nclients, 60);
	if (nready < nclients) {
		snprintf(extra, sizeof(extra), "\"error\":\"only %d of %d connected\",\"lost\":%d",
			 nready, nclients, nclients - nready);
		print_result(extra);
		return 1;
	}
	run_for(0.2, NULL); /* joins settle */

	int fanout = !strcmp(scenario, "fanout");
	void (*tick)(uint64_t) = NULL;

	if (fanout) {
		if (rate > 0) {
			next_bc_at = now_ns();
			tick = tick_fanout_rate;
		} else {
			for (int i = 0; i < inflight; i++)
				send_bcast();
		}
	} else {
		if (rate > 0) {
			uint64_t t = now_ns(), period = (uint64_t)(1e9 / rate);

			for (int i = 0; i < nclients; i++)
				conns[i].next_at = t + period * (uint64_t)i / (uint64_t)nclients;
			tick = tick_echo_rate;
		} else if (polling) {
			for (int i = 0; i < nclients; i++)
				p_echo(&pclients[i]);
		} else {
			for (int i = 0; i < (query_mode ? 1 : nclients); i++)
				send_echo(&conns[i], now_ns());
		}
	}
	run_for(warmup, tick);
	double c0 = self_cpu_s(), s0 = proc_cpu_s(server_pid);
	measuring = 1;
	m_start = now_ns();
	run_for(duration, tick);
	m_end = now_ns();
	double el = (double)(m_end - m_start) / 1e9;
	double gen_cpu = 100 * (self_cpu_s() - c0) / el, srv_cpu = 100 * (proc_cpu_s(server_pid) - s0) / el;
	long rss = proc_rss_kb(server_pid);

	/* drain: nothing new is sent; what is in flight must all arrive */
	draining = 1;
	uint64_t dl = now_ns() + 10000000000ull;
	while (now_ns() < dl && (fanout ? bc_outstanding > 0 : echo_acked < echo_sent))
		poll_once(5);
	if (fanout) {
		for (long long s = bc_seq > BC_RING ? bc_seq - BC_RING : 0; s < bc_seq; s++)
			lost_bc += (uint64_t)(bc_left[s % BC_RING] > 0 ? bc_left[s % BC_RING] : 0);
		double rate_d = bc_recv_measured / el;

		snprintf(extra, sizeof(extra),
			 "\"deliveries_per_s\":%.1f,\"broadcasts\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
			 "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"server_cpu_pct\":%.1f,"
			 "\"cpu_us_per_msg\":%.3f,\"gen_cpu_pct\":%.1f,\"server_rss_kb\":%ld,"
			 "\"lost\":%llu",
			 rate_d, (unsigned long long)bc_sent, hist_pct(50), hist_pct(90), hist_pct(99),
			 hist_pct(99.9), srv_cpu, rate_d > 0 ? srv_cpu * 1e4 / rate_d : 0, gen_cpu, rss,
			 (unsigned long long)lost_bc);
	} else {
		double rate_a = echo_acked_measured / el;

		snprintf(extra, sizeof(extra),
			 "\"acks_per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
			 "\"p999_ms\":%.3f,\"server_cpu_pct\":%.1f,\"cpu_us_per_msg\":%.3f,"
			 "\"gen_cpu_pct\":%.1f,\"server_rss_kb\":%ld,\"lost\":%llu",
			 rate_a, hist_pct(50), hist_pct(90), hist_pct(99), hist_pct(99.9), srv_cpu,
			 rate_a > 0 ? srv_cpu * 1e4 / rate_a : 0, gen_cpu, rss,
			 (unsigned long long)(echo_sent - echo_acked));
	}
	print_result(extra);
	return 0;
}
