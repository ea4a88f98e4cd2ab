/* The first request head of a plain-HTTP connection, looked at (MSG_PEEK,
 * nothing consumed) before libwebsockets gets the connection. lws 4.1.6
 * drops a connection without a word when the head is larger than its
 * header buffer or has more parts than its fragment table holds, answers a
 * bad %-escape with an HTML 403, and lets a client take as long as it
 * likes over its head. Here the head must arrive within a deadline (408),
 * fit the size Node allows (431), fit lws's table (414 or 431), and carry
 * no bad escape (400 with the Engine.IO JSON error); then lws adopts the
 * connection and reads the head itself. Later requests of a keep-alive
 * connection go to lws directly. (Handing lws bytes already read, with
 * lws_adopt_socket_vhost_readbuf, loops forever inside lws 4.1.6 on a
 * keep-alive request.) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

/* lws's fragment table has one slot per token: the URI, every header
 * line and every query argument each take one */
#define FRAG_SLOTS ((int)WSI_TOKEN_COUNT - 4)

struct sios__preread {
	sios__loop *l;
	int fd;
	int polling; /* waiting on the poll handle, else on the retry timer */
	unsigned retry_ms;
	uv_poll_t poll;
	sios__timer deadline, retry;
	struct sios__preread *prev, *next;
};

static void pr_unlink(struct sios__preread *p)
{
	sios__loop *l = p->l;

	if (p->prev)
		p->prev->next = p->next;
	else
		l->prereads = p->next;
	if (p->next)
		p->next->prev = p->prev;
	l->npreread--;
}

static void pr_freed(uv_handle_t *h)
{
	struct sios__preread *p = h->data;

	p->l->handles_open--;
	free(p);
}

/* Ends the wait. The poll handle is stopped (libuv then forgets the
 * descriptor) before the caller closes the descriptor or hands it to lws:
 * its number is reused at once by the next accept. */
static void pr_end(struct sios__preread *p)
{
	pr_unlink(p);
	sios__loop_timer_cancel(p->l, &p->deadline);
	sios__loop_timer_cancel(p->l, &p->retry);
	uv_poll_stop(&p->poll);
	uv_close((uv_handle_t *)&p->poll, pr_freed);
}

static void refuse(int fd, const char *status, const char *json)
{
	char r[256];
	size_t bl = json ? strlen(json) : 0;
	int n = snprintf(r, sizeof(r),
			 "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
			 json ? "Content-Type: application/json\r\n" : "", bl, json ? json : "");

	/* best effort: the client is dropped anyway */
	if (send(fd, r, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		errno = 0;
	close(fd);
}

static int hexd(int c)
{
	return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'f');
}

static void adopt(sios__loop *l, int fd)
{
	lws_sock_file_fd_type d;

	d.sockfd = fd;
	/* lws closes the descriptor itself when adoption fails */
	lws_adopt_descriptor_vhost(l->vh, LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP, d, NULL, NULL);
}

/* A whole head (end: just past its blank line): refused and closed, or
 * handed to lws. */
static void decide(sios__loop *l, int fd, const char *buf, size_t end)
{
	const char *sp1 = memchr(buf, ' ', end), *sp2 = NULL, *q;
	size_t args = 0, lines = 0;

	if (sp1)
		sp2 = memchr(sp1 + 1, ' ', end - (size_t)(sp1 + 1 - buf));
	if (!sp2) {
		refuse(fd, "400 Bad Request", NULL);
		return;
	}
	q = memchr(sp1, '?', (size_t)(sp2 - sp1));
	for (const char *c = q; c && c < sp2; c++)
		args += *c == '&' || c == q;
	for (size_t i = 0; i + 1 < end; i++)
		lines += buf[i] == '\r' && buf[i + 1] == '\n';
	if ((int)(1 + args + lines) > FRAG_SLOTS) {
		refuse(fd, args > lines ? "414 URI Too Long" : "431 Request Header Fields Too Large",
		       NULL);
		return;
	}
	for (const char *c = sp1; c < sp2; c++)
		if (*c == '%' && !(c + 2 < sp2 && hexd(c[1]) && hexd(c[2]))) {
			refuse(fd, "400 Bad Request", "{\"code\":3,\"message\":\"Bad request\"}");
			return;
		}
	adopt(l, fd);
}

/* Looks at what has arrived. 1: decided (refused or handed over); 0: the
 * head is not whole yet; -1: the client has gone (fd closed). */
static int look(sios__loop *l, int fd, char *buf, size_t cap, size_t *got)
{
	ssize_t n = recv(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);

	*got = 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0) {
		close(fd);
		return -1;
	}
	*got = (size_t)n;
	for (size_t i = 3; i < (size_t)n; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
			if (i + 1 > l->max_head)
				break;
			decide(l, fd, buf, i + 1);
			return 1;
		}
	if ((size_t)n > l->max_head) {
		refuse(fd, "431 Request Header Fields Too Large", NULL);
		return 1;
	}
	return 0;
}

static void pr_check(struct sios__preread *p);

static void pr_readable(uv_poll_t *h, int status, int events)
{
	struct sios__preread *p = h->data;

	SIOS__UNUSED(events);
	if (status < 0) {
		int fd = p->fd;

		pr_end(p);
		close(fd);
		return;
	}
	pr_check(p);
}

static void pr_retry(sios__timer *t)
{
	pr_check(sios__container_of(t, struct sios__preread, retry));
}

static void pr_check(struct sios__preread *p)
{
	sios__loop *l = p->l;
	char *buf = malloc(l->max_head + 1);
	size_t got;
	int r, fd = p->fd;

	if (!buf)
		return;
	/* the wait ends before the descriptor moves on; started again below
	 * when the head is not whole yet */
	uv_poll_stop(&p->poll);
	r = look(l, fd, buf, l->max_head + 1, &got);
	free(buf);
	if (r) {
		/* handed over, refused or gone: the descriptor is not ours */
		pr_end(p);
		return;
	}
	if (!got) {
		uv_poll_start(&p->poll, UV_READABLE, pr_readable);
		return;
	}
	/* part of a head: the descriptor stays readable until it is all
	 * there, so polling would spin; look again later, less and less often */
	p->retry_ms = p->retry_ms ? p->retry_ms * 2 : 5;
	if (p->retry_ms > 500)
		p->retry_ms = 500;
	sios__loop_timer_add(l, &p->retry, p->retry_ms);
}

static void pr_timeout(sios__timer *t)
{
	struct sios__preread *p = sios__container_of(t, struct sios__preread, deadline);
	int fd = p->fd;

	pr_end(p);
	refuse(fd, "408 Request Timeout", NULL);
}

void sios__preread_start(sios__loop *l, int fd)
{
	char first[2048];
	struct sios__preread *p;
	size_t got;
	int r = look(l, fd, first, sizeof(first), &got);

	if (r)
		return; /* decided at once, or gone */
	if (got == sizeof(first) && sizeof(first) <= l->max_head) {
		/* a large head: the full-size look on the poll or timer path */
		got = 1;
	}
	p = calloc(1, sizeof(*p));
	if (!p || uv_poll_init_socket(l->uv, &p->poll, fd)) {
		free(p);
		close(fd);
		return;
	}
	p->l = l;
	p->fd = fd;
	p->poll.data = p;
	l->handles_open++;
	p->next = l->prereads;
	if (p->next)
		p->next->prev = p;
	l->prereads = p;
	l->npreread++;
	sios__timer_init(&p->deadline, pr_timeout);
	sios__timer_init(&p->retry, pr_retry);
	sios__loop_timer_add(l, &p->deadline, l->head_timeout_ms);
	if (got)
		sios__loop_timer_add(l, &p->retry, (p->retry_ms = 5));
	else
		uv_poll_start(&p->poll, UV_READABLE, pr_readable);
}

/* at a stop: connections still sending their first head are dropped */
void sios__preread_close_all(sios__loop *l)
{
	while (l->prereads) {
		struct sios__preread *p = l->prereads;
		int fd = p->fd;

		pr_end(p);
		close(fd);
	}
}
