/* Listening sockets: sios binds exactly the addresses it is given, accepts
 * on the libuv loop and hands each connection to lws (which then never
 * listens itself: its vhost is CONTEXT_PORT_NO_LISTEN_SERVER). lws 4.1.6's
 * own listener binds one socket, ignores a host it cannot use and still
 * reports success, which is why this lives here. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

/* connections taken per readable event, so a flood of connects cannot
 * keep the loop from serving the sessions it already has */
#define ACCEPT_BURST 64

static void addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;

		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		port = ntohs(a->sin6_port);
		snprintf(buf, len, "[%s]:%d", h, port);
	} else {
		const struct sockaddr_in *a = (const void *)sa;

		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		port = ntohs(a->sin_port);
		snprintf(buf, len, "%s:%d", h, port);
	}
}

static void set_port(struct sockaddr *sa, int port)
{
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)sa)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)(void *)sa)->sin_port = htons((uint16_t)port);
}

/* one listening socket; returns the fd or -errno */
static int open_listener(const struct sockaddr *sa, socklen_t salen, int v6only, int reuseport)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	/* a restart must not wait for old connections in TIME_WAIT; a port
	 * another socket listens on still fails with EADDRINUSE */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (sa->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
		goto fail;
	/* accepted sockets inherit it: no Nagle delay on small frames */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, sa, salen) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	return fd;
fail:
	one = errno;
	close(fd);
	return -one;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					: ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void listener_closed(uv_handle_t *h)
{
	sios__listener *ls = h->data;

	close(ls->fd);
	ls->fd = -1;
	ls->loop->handles_open--;
}

static void pause_done(uv_timer_t *t);

static void accept_cb(uv_poll_t *h, int status, int events)
{
	sios__listener *ls = h->data;
	sios__loop *l = ls->loop;

	SIOS__UNUSED(events);
	if (status < 0 || l->listen_closed)
		return;
	for (int i = 0; i < ACCEPT_BURST; i++) {
		lws_sock_file_fd_type d;
		int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* out of descriptors: the socket stays readable, so
				 * polling it now would spin; look again shortly */
				uint64_t now = sios__now_ms();

				if (now - l->last_accept_log > 1000) {
					l->last_accept_log = now;
					sios__log(SIOS__LOG_WARN,
						  "accept on %s: %s; pausing accepts for 100 ms",
						  ls->text, strerror(errno));
				}
				for (size_t k = 0; k < l->nlisteners; k++)
					uv_poll_stop(&l->listeners[k].poll);
				uv_timer_start(&l->accept_pause, pause_done, 100, 0);
			}
			return;
		}
		if (l->accept_filter && !l->accept_filter(l->hook_ud, l->npreread)) {
			close(fd);
			continue;
		}
		if (!l->tls) {
			/* plain HTTP: sios reads the first request head itself */
			sios__preread_start(l, fd);
			continue;
		}
		d.sockfd = fd;
		/* lws closes the descriptor itself when adoption fails */
		lws_adopt_descriptor_vhost(l->vh,
					   LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP |
						   (l->tls ? LWS_ADOPT_ALLOW_SSL : 0),
					   d, NULL, NULL);
	}
}

static void pause_done(uv_timer_t *t)
{
	sios__loop *l = t->data;

	if (l->listen_closed)
		return;
	for (size_t k = 0; k < l->nlisteners; k++)
		uv_poll_start(&l->listeners[k].poll, UV_READABLE, accept_cb);
}

/* the addresses host stands for, as getaddrinfo gives them, deduplicated */
static int resolve(const char *host, struct addrinfo **out)
{
	struct addrinfo hints;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(host, "0", &hints, out);
	if (r) {
		sios__log(SIOS__LOG_ERR, "cannot listen on \"%s\": %s", host ? host : "*",
			  r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return SIOS_EADDR;
	}
	return 0;
}

static int same_addr(const struct addrinfo *a, const struct addrinfo *b)
{
	return a->ai_family == b->ai_family && a->ai_addrlen == b->ai_addrlen &&
	       !memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen);
}

void sios__listen_close(sios__loop *l)
{
	if (l->listen_closed)
		return;
	l->listen_closed = 1;
	sios__preread_close_all(l);
	if (l->accept_pause_on)
		uv_timer_stop(&l->accept_pause);
	for (size_t i = 0; i < l->nlisteners; i++) {
		sios__listener *ls = &l->listeners[i];

		if (ls->polling) {
			uv_poll_stop(&ls->poll);
			uv_close((uv_handle_t *)&ls->poll, listener_closed);
			ls->polling = 0;
		} else if (ls->fd >= 0) {
			close(ls->fd);
			ls->fd = -1;
		}
	}
}

static void listeners_drop(sios__loop *l)
{
	for (size_t i = 0; i < l->nlisteners; i++)
		if (l->listeners[i].fd >= 0) {
			close(l->listeners[i].fd);
			l->listeners[i].fd = -1;
		}
	l->nlisteners = 0;
}

/* one attempt at binding every address; returns 0 or an errno */
static int bind_all(sios__loop *l, const sios__loop_opts *o, struct addrinfo *ai)
{
	int port = o->port;

	if (!ai) {
		/* every interface: one dual-stack socket, or IPv4 alone on a
		 * system without IPv6 */
		struct sockaddr_in6 s6;
		struct sockaddr_in s4;
		int fd;

		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		s6.sin6_addr = in6addr_any;
		s6.sin6_port = htons((uint16_t)port);
		snprintf(l->listeners[0].text, sizeof(l->listeners[0].text), "[::]:%d", port);
		fd = open_listener((struct sockaddr *)&s6, sizeof(s6), 0, o->reuseport);
		if (fd == -EAFNOSUPPORT) {
			memset(&s4, 0, sizeof(s4));
			s4.sin_family = AF_INET;
			s4.sin_addr.s_addr = htonl(INADDR_ANY);
			s4.sin_port = htons((uint16_t)port);
			snprintf(l->listeners[0].text, sizeof(l->listeners[0].text), "0.0.0.0:%d",
				 port);
			fd = open_listener((struct sockaddr *)&s4, sizeof(s4), 0, o->reuseport);
		}
		if (fd < 0)
			return -fd;
		l->listeners[0].fd = fd;
		l->nlisteners = 1;
		return 0;
	}
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		sios__listener *ls = &l->listeners[l->nlisteners];
		int dup = 0, fd;

		if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
			continue;
		for (struct addrinfo *b = ai; b != a; b = b->ai_next)
			dup |= same_addr(a, b);
		if (dup)
			continue;
		/* with port 0 the first socket picks the port, the others share it */
		set_port(a->ai_addr, port);
		addr_text(a->ai_addr, ls->text, sizeof(ls->text));
		fd = open_listener(a->ai_addr, a->ai_addrlen, 1, o->reuseport);
		if (fd < 0)
			return -fd;
		ls->fd = fd;
		l->nlisteners++;
		if (!port)
			port = bound_port(fd);
	}
	return l->nlisteners ? 0 : EADDRNOTAVAIL;
}

/* Binds every address of o->host (all interfaces when NULL) on o->port. */
int sios__listen_open(sios__loop *l, const sios__loop_opts *o)
{
	struct addrinfo *ai = NULL;
	size_t n = 1;
	int err;

	if (o->host) {
		int r = resolve(o->host, &ai);

		if (r)
			return r;
		n = 0;
		for (struct addrinfo *a = ai; a; a = a->ai_next)
			n++;
	}
	l->listeners = calloc(n ? n : 1, sizeof(*l->listeners));
	if (!l->listeners) {
		freeaddrinfo(ai);
		return SIOS_ENOMEM;
	}
	for (int attempt = 0;; attempt++) {
		for (size_t i = 0; i < n; i++)
			l->listeners[i].fd = -1;
		err = bind_all(l, o, ai);
		/* port 0 on several addresses: the port the first one got may be
		 * taken on another; pick again */
		if (!err || err != EADDRINUSE || o->port || l->nlisteners == 0 || attempt == 8)
			break;
		listeners_drop(l);
	}
	if (err) {
		sios__log(SIOS__LOG_ERR, "cannot listen on %s (%s): %s", o->host ? o->host : "*",
			  l->listeners[l->nlisteners].text, strerror(err));
		listeners_drop(l);
		freeaddrinfo(ai);
		free(l->listeners);
		l->listeners = NULL;
		return SIOS_EADDR;
	}
	freeaddrinfo(ai);
	for (size_t i = 0; i < l->nlisteners; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (!getsockname(l->listeners[i].fd, (struct sockaddr *)&ss, &sl))
			addr_text((struct sockaddr *)&ss, l->listeners[i].text,
				  sizeof(l->listeners[i].text));
	}
	l->port = bound_port(l->listeners[0].fd);
	return 0;
}

/* Starts accepting on the loop (after the lws context exists). */
int sios__listen_start(sios__loop *l)
{
	uv_timer_init(l->uv, &l->accept_pause);
	l->accept_pause.data = l;
	l->accept_pause_on = 1;
	l->handles_open++;
	for (size_t i = 0; i < l->nlisteners; i++) {
		sios__listener *ls = &l->listeners[i];

		ls->loop = l;
		if (uv_poll_init_socket(l->uv, &ls->poll, ls->fd))
			return SIOS_EIO;
		ls->poll.data = ls;
		ls->polling = 1;
		l->handles_open++;
		if (uv_poll_start(&ls->poll, UV_READABLE, accept_cb))
			return SIOS_EIO;
	}
	return 0;
}

size_t sios__listen_addrs(const sios__loop *l, const char **out, size_t max)
{
	size_t i;

	for (i = 0; i < l->nlisteners && i < max; i++)
		out[i] = l->listeners[i].text;
	return l->nlisteners;
}
