/* Namespaces: static ones, dynamic parents (sios_of_regex, sios_of_match)
 * and the children they accept, their handlers and middleware. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* ---- handler lists, a namespace's or a socket's ----------------------- */

/* Sets, replaces or (cb NULL) removes the handler of event in a list. */
int sios__handler_set(struct sios__handler **list, const char *event, sios_event_cb cb, void *ud)
{
	struct sios__handler **pp, *h;

	if (!event || !*event)
		return SIOS_EINVAL;
	for (pp = list; (h = *pp); pp = &h->next)
		if (!strcmp(h->event, event))
			break;
	if (!cb) {
		if (h) {
			*pp = h->next;
			free(h->event);
			free(h);
		}
		return 0;
	}
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h || !(h->event = sios__strdup(event))) {
			free(h);
			return SIOS_ENOMEM;
		}
		*pp = h;
	}
	h->cb = cb;
	h->ud = ud;
	return 0;
}

sios_event_cb sios__handler_find(const struct sios__handler *h, const char *name, void **ud)
{
	for (; h; h = h->next)
		if (!strcmp(h->event, name)) {
			*ud = h->ud;
			return h->cb;
		}
	return NULL;
}

void sios__handlers_free(struct sios__handler *h)
{
	while (h) {
		struct sios__handler *n = h->next;

		free(h->event);
		free(h);
		h = n;
	}
}

/* ---- lifecycle ------------------------------------------------------- */

int sios__nsp_new(sios_server *srv, const char *name, struct sios_nsp **out)
{
	struct sios_nsp *n = calloc(1, sizeof(*n));

	if (!n || !(n->name = sios__strdup(name))) {
		free(n);
		return SIOS_ENOMEM;
	}
	n->srv = srv;
	sios__map_init(&n->sockets);
	sios__map_init(&n->rooms);
	n->adapter = srv->adapters.make(srv->adapters.ctx, n);
	if (!n->adapter) {
		free(n->name);
		free(n);
		return SIOS_ENOMEM;
	}
	n->next = srv->nsps;
	srv->nsps = n;
	*out = n;
	return 0;
}

/* unlinks the namespace from the server and frees it */
void sios__nsp_free(struct sios_nsp *n)
{
	struct sios__mw *m = n->mw;

	for (struct sios_nsp **pp = &n->srv->nsps; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	if (n->watch.free)
		n->watch.free(n->watch.ud);
	if (n->adapter)
		n->adapter->ops->close(n->adapter);
	sios__handlers_free(n->handlers);
	while (m) {
		struct sios__mw *x = m->next;

		free(m);
		m = x;
	}
	if (n->has_re)
		regfree(&n->re);
	sios__map_free(&n->sockets);
	sios__map_free(&n->rooms);
	free(n->name);
	free(n);
}

void sios__nsp_free_all(sios_server *srv)
{
	while (srv->nsps)
		sios__nsp_free(srv->nsps);
}

struct sios_nsp *sios__nsp_find(sios_server *srv, const char *name)
{
	for (struct sios_nsp *n = srv->nsps; n; n = n->next)
		if (!n->is_pattern && !strcmp(n->name, name))
			return n;
	return NULL;
}

/* a static namespace, or a new child of the first parent that accepts it */
struct sios_nsp *sios__nsp_resolve(sios_server *srv, const char *name, const cJSON *auth)
{
	struct sios_nsp *n = sios__nsp_find(srv, name), *child;

	if (n)
		return n;
	for (n = srv->nsps; n; n = n->next) {
		if (!n->is_pattern)
			continue;
		if (n->has_re ? regexec(&n->re, name, 0, NULL, 0) != 0
			      : !n->match(name, auth, n->match_ud))
			continue;
		if (sios__nsp_new(srv, name, &child))
			return NULL;
		child->parent = n;
		return child;
	}
	return NULL;
}

struct sios_nsp *sios__cfg_nsp(struct sios_nsp *nsp) { return nsp->parent ? nsp->parent : nsp; }

/* ---- public ---------------------------------------------------------- */

SIOS_EXPORT int sios_of(sios_server *srv, const char *name, sios_nsp **out)
{
	struct sios_nsp *n;

	if (srv && SIOS__OFF_LOOP(&srv->loop))
		return SIOS_EMISUSE;
	if (!srv || !name || name[0] != '/' || strchr(name, ',') || !out)
		return SIOS_EINVAL;
	n = sios__nsp_find(srv, name);
	if (n) {
		*out = n;
		return 0;
	}
	return sios__nsp_new(srv, name, out);
}

static int pattern_new(sios_server *srv, const char *label, sios_nsp **out)
{
	int r = sios__nsp_new(srv, label, out);

	if (!r)
		(*out)->is_pattern = 1;
	return r;
}

SIOS_EXPORT int sios_of_regex(sios_server *srv, const char *pattern, sios_nsp **out)
{
	regex_t re;
	int r;

	if (srv && SIOS__OFF_LOOP(&srv->loop))
		return SIOS_EMISUSE;
	if (!srv || !pattern || !out)
		return SIOS_EINVAL;
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB))
		return SIOS_EINVAL;
	r = pattern_new(srv, pattern, out);
	if (r) {
		regfree(&re);
		return r;
	}
	(*out)->re = re;
	(*out)->has_re = 1;
	return 0;
}

SIOS_EXPORT int sios_of_match(sios_server *srv, sios_nsp_match_cb match, void *ud, sios_nsp **out)
{
	int r;

	if (srv && SIOS__OFF_LOOP(&srv->loop))
		return SIOS_EMISUSE;
	if (!srv || !match || !out)
		return SIOS_EINVAL;
	r = pattern_new(srv, "(predicate)", out);
	if (!r) {
		(*out)->match = match;
		(*out)->match_ud = ud;
	}
	return r;
}

SIOS_EXPORT sios_nsp *sios_nsp_parent(const sios_nsp *nsp) { return nsp ? nsp->parent : NULL; }

SIOS_EXPORT const char *sios_nsp_name(const sios_nsp *nsp) { return nsp ? nsp->name : NULL; }

SIOS_EXPORT void sios_nsp_connection_callback_set(sios_nsp *nsp, sios_connection_cb cb, void *ud)
{
	if (nsp) {
		nsp->on_conn = cb;
		nsp->conn_ud = ud;
	}
}

SIOS_EXPORT void sios_nsp_disconnect_callback_set(sios_nsp *nsp, sios_disconnect_cb cb, void *ud)
{
	if (nsp) {
		nsp->on_disc = cb;
		nsp->disc_ud = ud;
	}
}

SIOS_EXPORT void sios_nsp_disconnecting_callback_set(sios_nsp *nsp, sios_disconnect_cb cb,
						     void *ud)
{
	if (nsp) {
		nsp->on_disconnecting = cb;
		nsp->disconnecting_ud = ud;
	}
}

SIOS_EXPORT void sios_nsp_room_callback_set(sios_nsp *nsp, sios_room_event_cb cb, void *ud)
{
	if (nsp) {
		nsp->on_room = cb;
		nsp->room_ud = ud;
	}
}

SIOS_EXPORT int sios_nsp_on(sios_nsp *nsp, const char *event, sios_event_cb cb, void *ud)
{
	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	return nsp ? sios__handler_set(&nsp->handlers, event, cb, ud) : SIOS_EINVAL;
}

SIOS_EXPORT void sios_nsp_on_any(sios_nsp *nsp, sios_event_cb cb, void *ud)
{
	if (nsp) {
		nsp->on_any = cb;
		nsp->any_ud = ud;
	}
}

SIOS_EXPORT int sios_nsp_use(sios_nsp *nsp, sios_middleware_cb cb, void *ud)
{
	struct sios__mw **pp, *m;

	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!nsp || !cb)
		return SIOS_EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return SIOS_ENOMEM;
	m->cb = cb;
	m->ud = ud;
	for (pp = &nsp->mw; *pp; pp = &(*pp)->next)
		;
	*pp = m;
	return 0;
}

SIOS_EXPORT sios_socket *sios_nsp_socket(sios_nsp *nsp, const char *id)
{
	return nsp && id ? sios__map_get(&nsp->sockets, id) : NULL;
}
