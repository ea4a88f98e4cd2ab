/* The floor: the bench contract (../shared/BENCH.md) served by hand, with
 * nothing but the system calls it needs: one epoll loop, websocket only,
 * one recv per readable socket and one send per socket per loop iteration
 * (everything queued for a socket in an iteration goes in that send).
 * No Engine.IO heartbeats, no polling, no namespaces, no JSON parsing: it
 * is not a server anyone should use, it measures what this machine allows
 * for the bench's traffic, so that `make bench` can say how close sios
 * comes to it.  Loopback only.
 *
 *   floor_server --port N     (0: any free port; prints "listening on port N") */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF 65536

struct conn {
	int fd;
	int ws;    /* upgraded */
	int ready; /* Socket.IO connected: in the room */
	int dirty; /* on the list of sockets to write this iteration */
	unsigned char *rbuf;
	size_t rlen;
	unsigned char *wbuf;
	size_t wlen, wcap;
	struct conn *next_dirty;
};

static struct conn **room;
static size_t nroom, room_cap;
static struct conn *dirty;
static struct conn **graves; /* closed this iteration, freed at its end */
static size_t ngraves, graves_cap;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void out(struct conn *c, const void *p, size_t n)
{
	if (c->wlen + n > c->wcap) {
		size_t nc = c->wcap ? c->wcap : 4096;

		while (nc < c->wlen + n)
			nc *= 2;
		c->wbuf = realloc(c->wbuf, nc);
		if (!c->wbuf)
			abort();
		c->wcap = nc;
	}
	memcpy(c->wbuf + c->wlen, p, n);
	c->wlen += n;
	if (!c->dirty) {
		c->dirty = 1;
		c->next_dirty = dirty;
		dirty = c;
	}
}

/* an unmasked server text frame */
static void out_text(struct conn *c, const char *p, size_t n)
{
	unsigned char h[4] = {0x81};
	size_t hl = 2;

	if (n < 126) {
		h[1] = (unsigned char)n;
	} else {
		h[1] = 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	}
	out(c, h, hl);
	out(c, p, n);
}

static void conn_close(struct conn *c, int epfd)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->ready)
		for (size_t i = 0; i < nroom; i++)
			if (room[i] == c) {
				room[i] = room[--nroom];
				break;
			}
	c->ready = 0;
	/* freed at the end of the iteration, after the dirty list is walked */
	if (ngraves == graves_cap) {
		graves_cap = graves_cap ? graves_cap * 2 : 64;
		graves = realloc(graves, graves_cap * sizeof(*graves));
		if (!graves)
			abort();
	}
	graves[ngraves++] = c;
}

static int handshake(struct conn *c)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4), *k, *ke, acc[64], resp[256];
	unsigned char sha[SHA_DIGEST_LENGTH], in[128];
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t kl, j = 0;
	int n;

	if (!end)
		return c->rlen < RBUF ? 0 : -1;
	*end = 0;
	k = strcasestr((char *)c->rbuf, "\r\nSec-WebSocket-Key:");
	if (!k)
		return -1;
	k += 20;
	while (*k == ' ')
		k++;
	ke = strstr(k, "\r\n");
	kl = ke ? (size_t)(ke - k) : strlen(k);
	if (kl > 64)
		return -1;
	memcpy(in, k, kl);
	memcpy(in + kl, guid, sizeof(guid) - 1);
	SHA1(in, kl + sizeof(guid) - 1, sha);
	for (size_t i = 0; i < sizeof(sha); i += 3) {
		unsigned v = (unsigned)sha[i] << 16 | (i + 1 < sizeof(sha) ? sha[i + 1] << 8 : 0) |
			     (i + 2 < sizeof(sha) ? sha[i + 2] : 0);

		acc[j++] = b64[v >> 18 & 63];
		acc[j++] = b64[v >> 12 & 63];
		acc[j++] = i + 1 < sizeof(sha) ? b64[v >> 6 & 63] : '=';
		acc[j++] = i + 2 < sizeof(sha) ? b64[v & 63] : '=';
	}
	acc[j] = 0;
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		     acc);
	out(c, resp, (size_t)n);
	static const char open_pkt[] = "0{\"sid\":\"floorfloorfloorfloor\",\"upgrades\":[],"
				       "\"pingInterval\":25000,\"pingTimeout\":20000,"
				       "\"maxPayload\":1000000}";
	out_text(c, open_pkt, sizeof(open_pkt) - 1);
	end += 4;
	c->rlen -= (size_t)(end - (char *)c->rbuf);
	memmove(c->rbuf, end, c->rlen);
	c->ws = 1;
	return 0;
}

/* one Engine.IO text packet from a client */
static void on_packet(struct conn *c, char *p, size_t n)
{
	if (n == 2 && !memcmp(p, "40", 2)) {
		static const char ok[] = "40{\"sid\":\"floorfloorfloorfloor\"}";

		out_text(c, ok, sizeof(ok) - 1);
		if (nroom == room_cap) {
			room_cap = room_cap ? room_cap * 2 : 1024;
			room = realloc(room, room_cap * sizeof(*room));
			if (!room)
				abort();
		}
		room[nroom++] = c;
		c->ready = 1;
		return;
	}
	if (n > 11 && !memcmp(p, "42[\"bcast\",", 11)) {
		/* 42["msg",DATA]: one frame, built once, queued for everyone */
		char frame[4 + 65536];
		size_t dl = n - 11, fl;

		if (dl + 9 > 65536)
			return;
		memcpy(frame + 4, "42[\"msg\",", 9);
		memcpy(frame + 13, p + 11, dl);
		fl = 9 + dl;
		for (size_t i = 0; i < nroom; i++)
			out_text(room[i], frame + 4, fl);
		return;
	}
	if (n > 2 && p[0] == '4' && p[1] == '2' && p[2] >= '0' && p[2] <= '9') {
		/* 42ID["echo",DATA] -> 43ID[DATA] */
		char *q = p + 2, *e = p + n;

		while (q < e && *q >= '0' && *q <= '9')
			q++;
		if (e - q < 9 || memcmp(q, "[\"echo\",", 8))
			return;
		size_t idl = (size_t)(q - (p + 2));
		char reply[65536];
		size_t dl = (size_t)(e - (q + 8));

		if (dl + idl + 3 > sizeof(reply))
			return;
		reply[0] = '4';
		reply[1] = '3';
		memcpy(reply + 2, p + 2, idl);
		reply[2 + idl] = '[';
		memcpy(reply + 3 + idl, q + 8, dl);
		out_text(c, reply, 3 + idl + dl);
	}
}

static int on_readable(struct conn *c)
{
	ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
	size_t off = 0;

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (r < 0)
		return 0;
	c->rlen += (size_t)r;
	if (!c->ws && handshake(c) < 0)
		return -1;
	if (!c->ws)
		return 0;
	while (c->rlen - off >= 6) {
		unsigned char *f = c->rbuf + off, *m;
		size_t hl = 2, len = f[1] & 0x7f;
		int op = f[0] & 0x0f;

		if (len == 126) {
			if (c->rlen - off < 8)
				break;
			len = (size_t)f[2] << 8 | f[3];
			hl = 4;
		} else if (len == 127) {
			return -1; /* the bench never sends frames that large */
		}
		if (c->rlen - off < hl + 4 + len)
			break;
		m = f + hl;
		for (size_t i = 0; i < len; i++)
			f[hl + 4 + i] ^= m[i & 3];
		if (op == 8)
			return -1;
		if (op == 1)
			on_packet(c, (char *)f + hl + 4, len);
		off += hl + 4 + len;
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	if (c->rlen == RBUF)
		return -1;
	return 0;
}

/* one send per socket with output: what this iteration queued for it */
static void flush(int epfd)
{
	while (dirty) {
		struct conn *c = dirty;

		dirty = c->next_dirty;
		c->dirty = 0;
		if (c->fd < 0 || !c->wlen)
			continue;
		ssize_t w = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);

		if (w < 0 && errno != EAGAIN) {
			conn_close(c, epfd);
			continue;
		}
		if (w > 0) {
			memmove(c->wbuf, c->wbuf + w, c->wlen - (size_t)w);
			c->wlen -= (size_t)w;
		}
		struct epoll_event ev = {.events = EPOLLIN | (c->wlen ? EPOLLOUT : 0u), .data.ptr = c};

		if (c->wlen)
			epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

int main(int argc, char **argv)
{
	int port = 0, lfd, epfd, one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct epoll_event evs[512];
	struct conn *lc = NULL;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((unsigned short)port);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl)) {
		perror("floor_server: listen");
		return 1;
	}
	epfd = epoll_create1(0);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &lc};

	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
	printf("floor_server listening on port %d\n", ntohs(sa.sin_port));
	fflush(stdout);

	while (!stop) {
		int n = epoll_wait(epfd, evs, 512, 1000);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lc) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct conn *c = calloc(1, sizeof(*c));

					if (!c || !(c->rbuf = malloc(RBUF)))
						abort();
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

					epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			struct conn *c = evs[i].data.ptr;

			if (c->fd < 0)
				continue;
			if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && on_readable(c) < 0) {
				conn_close(c, epfd);
			} else if (evs[i].events & EPOLLOUT) {
				struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

				epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
				if (c->wlen && !c->dirty) {
					c->dirty = 1;
					c->next_dirty = dirty;
					dirty = c;
				}
			}
		}
		flush(epfd);
		for (size_t i = 0; i < ngraves; i++) {
			free(graves[i]->rbuf);
			free(graves[i]->wbuf);
			free(graves[i]);
		}
		ngraves = 0;
	}
	return 0;
}
