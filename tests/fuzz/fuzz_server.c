/* A real server's handlers driven by fake sessions (no sockets): the input
 * is a series of websocket messages, each for one of three clients: a byte
 * (bits 0-1: which client, bit 2: binary, bit 3: open that client afresh),
 * two bytes of length, the data. The server has the handlers an
 * application exposes: echo with acks and binary, rooms, broadcasts,
 * emits with acks, a namespace behind middleware, dynamic namespaces. At
 * the end every client closes: nothing may leak or crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static sios_server *srv;

static void ack_args(const sios_event *ev, const cJSON *args, const sios_binary *b, size_t nb)
{
	sios_ack *ack = sios_event_take_ack(ev);

	if (ack)
		sios_ack_send(ack, args, b, nb);
}

static void on_echo(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)ud;
	ack_args(ev, sios_event_args(ev), sios_event_binaries(ev), sios_event_binary_count(ev));
	sios_emit(s, "echo", sios_event_args(ev), sios_event_binaries(ev),
		  sios_event_binary_count(ev));
}

static void on_join(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *r = sios_event_arg(ev, 0);

	(void)ud;
	if (cJSON_IsString(r))
		sios_socket_join(s, r->valuestring);
	ack_args(ev, NULL, NULL, 0);
}

static void on_leave(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *r = sios_event_arg(ev, 0);

	(void)ud;
	if (cJSON_IsString(r))
		sios_socket_leave(s, r->valuestring);
}

static void on_say(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *r = sios_event_arg(ev, 0);
	sios_scope *sc;

	(void)ud;
	if (sios_scope_from_socket(s, &sc))
		return;
	if (cJSON_IsString(r))
		sios_scope_to(sc, r->valuestring);
	sios_scope_emit(sc, "said", sios_event_args(ev), sios_event_binaries(ev),
			sios_event_binary_count(ev));
	sios_scope_free(sc);
}

static void answered(sios_socket *s, int status, const sios_event *resp, void *ud)
{
	(void)s, (void)status, (void)resp, (void)ud;
}

static void all_answered(int status, const sios_event *const *r, size_t n, void *ud)
{
	(void)status, (void)r, (void)n, (void)ud;
}

static void on_ask(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_scope *sc;

	(void)ud;
	sios_emit_with_ack(s, "q", sios_event_args(ev), NULL, 0, 0, answered, NULL);
	if (sios_scope_new(sios_socket_nsp(s), &sc) == 0) {
		sios_scope_set_timeout(sc, 1000);
		sios_scope_emit_with_ack(sc, "all", NULL, NULL, 0, all_answered, NULL);
		sios_scope_free(sc);
	}
}

static void on_bye(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)ev, (void)ud;
	sios_socket_disconnect(s, cJSON_IsTrue(sios_event_arg(ev, 0)));
}

static void admin_mw(sios_socket *s, sios_next *next, void *ud)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(sios_socket_auth(s), "token");

	(void)ud;
	if (cJSON_IsString(t) && !strcmp(t->valuestring, "t"))
		sios_next_accept(next);
	else
		sios_next_reject(next, "unauthorized", t);
}

static void setup(void)
{
	sios_config *cfg;
	sios_nsp *root, *admin, *dyn;

	sios_log_callback_set(0, NULL, NULL); /* quiet */
	if (sios_config_new(&cfg) || sios_config_set_port(cfg, 0) ||
	    sios_config_set_host(cfg, "127.0.0.1") || sios_config_set_max_queue(cfg, 1 << 20, 4096) ||
	    sios_server_new(cfg, &srv))
		abort();
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	sios_nsp_on(root, "echo", on_echo, NULL);
	sios_nsp_on(root, "join", on_join, NULL);
	sios_nsp_on(root, "leave", on_leave, NULL);
	sios_nsp_on(root, "say", on_say, NULL);
	sios_nsp_on(root, "ask", on_ask, NULL);
	sios_nsp_on(root, "bye", on_bye, NULL);
	sios_of(srv, "/admin", &admin);
	sios_nsp_use(admin, admin_mw, NULL);
	sios_nsp_on(admin, "echo", on_echo, NULL);
	sios_of_regex(srv, "^/w-[0-9]+$", &dyn);
	sios_nsp_on(dyn, "say", on_say, NULL);
}

/* a client's session by id: the server may have closed and freed it */
static sios_eio_conn *live(const char *sid)
{
	sios_eio_conn *c = *sid ? sios__map_get(&srv->eng.sessions, sid) : NULL;

	return c && sios__session_is_open(c) ? c : NULL;
}

static void open_client(char sid[SIOS__ID_LEN + 1])
{
	sios_eio_conn *c = sios__session_fake(&srv->eng, srv->sio_ep);

	strcpy(sid, c ? sios_eio_conn_id(c) : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sid[3][SIOS__ID_LEN + 1];
	size_t i = 0;

	if (!srv)
		setup();
	for (int k = 0; k < 3; k++)
		open_client(sid[k]);
	while (i + 3 <= size) {
		int who = data[i] & 3 ? (data[i] & 3) - 1 : 0, binary = !!(data[i] & 4);
		size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
		sios_eio_conn *c;

		if (data[i] & 8) {
			if ((c = live(sid[who])))
				sios_eio_close(c);
			open_client(sid[who]);
		}
		i += 3;
		if (len > size - i)
			len = size - i;
		if ((c = live(sid[who])))
			sios__session_feed(c, data + i, len, binary);
		i += len;
	}
	for (int k = 0; k < 3; k++) {
		sios_eio_conn *c = live(sid[k]);

		if (c)
			sios_eio_close(c);
	}
	/* what the loop would do at the end of this iteration: slow clients
	 * closed, freed sessions reaped */
	sios__engine_flush(&srv->eng);
	if (srv->eng.sessions.len)
		abort(); /* a session outlived its client */
	return 0;
}
