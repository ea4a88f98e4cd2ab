/*
 * chat: the sios demo. A room chat on "/", an authenticated "/admin", and
 * dynamic "/workspace-N" namespaces; GET / serves a page for a browser.
 *
 *   chat [--port N] [--admin-token T] [--client-dir DIR] [--redis URL]
 *
 * "/":  join-room (roomId)      -> "joined" {room} to the sender,
 *                                  "user-joined" {userId,timestamp} to the room
 *       leave-room (roomId)     -> "user-left" {userId} to the room
 *       message {roomId,text}   -> "message" {userId,text,timestamp} to the room
 *       on disconnect           -> "user-left" to every room it was in
 *       room-size (roomId, ack) -> ack(n): the sockets in the room on every
 *                                  server of the cluster that answers
 *       presence: a client connecting with auth.userId joins "user:<userId>";
 *       auth.friends (user ids) are told, in their rooms, "presence"
 *       {userId, status:"online"} when its first socket connects and
 *       {userId, status:"offline", lastSeen} when its last one goes
 *       get-presence ([ids], ack) -> ack([{userId, status, lastSeen?}...])
 *       direct ({to, text}, ack) -> user "to" online anywhere: its room gets
 *                                  "message" {from, text, timestamp}, ack
 *                                  {status:"delivered"}; else it is queued,
 *                                  ack {status:"queued"}; a socket of the
 *                                  user that connects gets "queued-messages"
 *                                  [...] in send order, with an ack request
 *                                  whose answer removes them
 *       set-status (status)     -> the user's friends get "presence" with it
 *                                  ("away"; "online" sets it back)
 *       --presence-grace MS: "offline" only after the last socket has been
 *       gone MS milliseconds (default 0)
 *       --presence-ttl SECONDS (default 30): with --redis, when a server
 *       process dies the others report its users offline within that time
 *       plus a few seconds (unless they still have a socket elsewhere)
 * Connection state recovery is on (--recovery SECONDS, default 120; 0 off):
 * a socket.io-client with connectionStateRecovery whose connection breaks
 * gets its id, rooms and missed messages back. As with Node, every event
 * then carries its offset (a string) as an extra last argument.
 * With --redis URL (redis://[:password@]host:port[/db]) the chat joins a
 * cluster: rooms, messages and room sizes span every server, sios or Node,
 * on that Redis.
 * "/admin": auth.token must equal the admin token (connect_error
 *       "unauthorized" otherwise); admin-action is acknowledged {ok:true}.
 * "/workspace-N": message (any data) goes to the whole namespace.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <unistd.h>

#include <sios.h>

static const char *admin_token = "secret";
static sios_presence *presence;
static sios_queue *queue;

static double now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec * 1000.0 + (double)(tv.tv_usec / 1000);
}

/* emit {key: value...} built by the caller to a scope, then free both */
static void scope_emit(sios_scope *sc, const char *event, cJSON *obj)
{
	cJSON *args = cJSON_CreateArray();

	cJSON_AddItemToArray(args, obj);
	sios_scope_emit(sc, event, args, NULL, 0);
	cJSON_Delete(args);
	sios_scope_free(sc);
}

static const char *room_arg(const sios_event *ev)
{
	const cJSON *r = sios_event_arg(ev, 0);

	return cJSON_IsString(r) && *r->valuestring ? r->valuestring : NULL;
}

static void on_join(sios_socket *s, const sios_event *ev, void *ud)
{
	const char *room = room_arg(ev);
	cJSON *o, *args;
	sios_scope *sc;

	(void)ud;
	if (!room || sios_socket_join(s, room) < 0)
		return;
	args = cJSON_CreateArray();
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "room", room);
	cJSON_AddItemToArray(args, o);
	sios_emit(s, "joined", args, NULL, 0);
	cJSON_Delete(args);
	if (sios_scope_from_socket(s, &sc) == 0) {
		sios_scope_to(sc, room);
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "userId", sios_socket_id(s));
		cJSON_AddNumberToObject(o, "timestamp", now_ms());
		scope_emit(sc, "user-joined", o);
	}
}

static void user_left(sios_socket *s, const char *room)
{
	sios_scope *sc;
	cJSON *o;

	if (sios_scope_new(sios_socket_nsp(s), &sc) < 0)
		return;
	sios_scope_to(sc, room);
	sios_scope_except(sc, sios_socket_id(s));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "userId", sios_socket_id(s));
	scope_emit(sc, "user-left", o);
}

static void on_leave(sios_socket *s, const sios_event *ev, void *ud)
{
	const char *room = room_arg(ev);

	(void)ud;
	if (!room || !sios_socket_in_room(s, room) || !strcmp(room, sios_socket_id(s)))
		return;
	sios_socket_leave(s, room);
	user_left(s, room);
}

static void on_message(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *m = sios_event_arg(ev, 0);
	const cJSON *room = cJSON_GetObjectItemCaseSensitive(m, "roomId");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "text");
	sios_scope *sc;
	cJSON *o;

	(void)ud;
	if (!cJSON_IsString(room) || !cJSON_IsString(text) ||
	    sios_scope_new(sios_socket_nsp(s), &sc) < 0)
		return;
	sios_scope_to(sc, room->valuestring);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "userId", sios_socket_id(s));
	cJSON_AddStringToObject(o, "text", text->valuestring);
	cJSON_AddNumberToObject(o, "timestamp", now_ms());
	scope_emit(sc, "message", o);
}

/* the room's size across the cluster, answered when every server has */
static void room_size_done(int status, const cJSON *sockets, void *ud)
{
	sios_ack *ack = ud;
	cJSON *args = cJSON_CreateArray();

	if (status < 0)
		cJSON_AddItemToArray(args, cJSON_CreateNull());
	else
		cJSON_AddItemToArray(args, cJSON_CreateNumber(cJSON_GetArraySize(sockets)));
	sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
}

static void on_room_size(sios_socket *s, const sios_event *ev, void *ud)
{
	const char *room = room_arg(ev);
	sios_ack *ack = sios_event_take_ack(ev);
	sios_scope *sc;

	(void)ud;
	if (!ack)
		return;
	if (!room || sios_scope_new(sios_socket_nsp(s), &sc) < 0) {
		room_size_done(SIOS_EINVAL, NULL, ack);
		return;
	}
	sios_scope_to(sc, room);
	if (sios_scope_fetch_sockets(sc, room_size_done, ack) < 0)
		room_size_done(SIOS_EIO, NULL, ack); /* Redis is down */
	sios_scope_free(sc);
}

/* auth.friends: this user's friends, as its latest socket says */
static void friends_from_auth(sios_socket *s, sios_next *next, void *ud)
{
	const cJSON *auth = sios_socket_auth(s), *f;
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(auth, "userId");
	const char *ids[256];
	size_t n = 0;

	(void)ud;
	if (cJSON_IsString(user) && *user->valuestring) {
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(auth, "friends"))
			if (cJSON_IsString(f) && *f->valuestring && n < 256)
				ids[n++] = f->valuestring;
		sios_presence_set_friends(presence, user->valuestring, ids, n);
	}
	sios_next_accept(next);
}

static void presence_got(int status, const cJSON *result, void *ud)
{
	sios_ack *ack = ud;
	cJSON *args = cJSON_CreateArray();

	/* the result is lent for the call: referenced, not copied */
	if (status < 0)
		cJSON_AddItemToArray(args, cJSON_CreateNull());
	else
		cJSON_AddItemReferenceToArray(args, (cJSON *)result);
	sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
}

static void on_get_presence(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *list = sios_event_arg(ev, 0), *it;
	sios_ack *ack = sios_event_take_ack(ev);
	const char *ids[1000];
	size_t n = 0;

	(void)s;
	(void)ud;
	if (!ack)
		return;
	cJSON_ArrayForEach(it, list)
		if (cJSON_IsString(it) && n < 1000)
			ids[n++] = it->valuestring;
	if (sios_presence_query(presence, ids, n, presence_got, ack) < 0)
		presence_got(SIOS_EIO, NULL, ack);
}

static void direct_done(int status, int queued, void *ud)
{
	sios_ack *ack = ud;
	cJSON *args = cJSON_CreateArray(), *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", status < 0 ? "error" : queued ? "queued" : "delivered");
	cJSON_AddItemToArray(args, o);
	if (ack)
		sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
}

static void on_direct(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *m = sios_event_arg(ev, 0);
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(m, "to");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "text");
	const cJSON *me = cJSON_GetObjectItemCaseSensitive(sios_socket_auth(s), "userId");
	sios_ack *ack = sios_event_take_ack(ev);
	cJSON *msg;

	(void)ud;
	if (!cJSON_IsString(to) || !cJSON_IsString(text) || !cJSON_IsString(me)) {
		direct_done(SIOS_EINVAL, 0, ack);
		return;
	}
	msg = cJSON_CreateObject();
	cJSON_AddStringToObject(msg, "from", me->valuestring);
	cJSON_AddStringToObject(msg, "text", text->valuestring);
	cJSON_AddNumberToObject(msg, "timestamp", now_ms());
	if (sios_queue_send(queue, to->valuestring, "message", msg, direct_done, ack) < 0)
		direct_done(SIOS_EINVAL, 0, ack);
	cJSON_Delete(msg);
}

static void on_set_status(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *st = sios_event_arg(ev, 0);
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(sios_socket_auth(s), "userId");

	(void)ud;
	if (cJSON_IsString(st) && cJSON_IsString(user))
		sios_presence_set_status(presence, user->valuestring, st->valuestring);
}

struct leaving {
	sios_socket *s;
	char *rooms[64];
	int n;
};

static void collect_room(const char *room, void *ud)
{
	struct leaving *l = ud;

	if (l->n < 64 && strcmp(room, sios_socket_id(l->s)))
		l->rooms[l->n++] = strdup(room);
}

/* still in its rooms here: tell each of them */
static void on_disconnecting(sios_socket *s, int reason, void *ud)
{
	struct leaving l = {s, {0}, 0};

	(void)reason;
	(void)ud;
	sios_socket_rooms(s, collect_room, &l);
	for (int i = 0; i < l.n; i++) {
		user_left(s, l.rooms[i]);
		free(l.rooms[i]);
	}
}

static void admin_auth(sios_socket *s, sios_next *next, void *ud)
{
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(sios_socket_auth(s), "token");

	(void)ud;
	if (cJSON_IsString(tok) && !strcmp(tok->valuestring, admin_token))
		sios_next_accept(next);
	else
		sios_next_reject(next, "unauthorized", NULL);
}

static void on_admin_action(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);
	cJSON *args = cJSON_CreateArray(), *o = cJSON_CreateObject();

	(void)s;
	(void)ud;
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddItemToArray(args, o);
	sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
}

static void on_workspace_message(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_scope *sc;

	(void)ud;
	if (sios_scope_new(sios_socket_nsp(s), &sc) == 0) {
		sios_scope_emit(sc, "message", sios_event_args(ev), sios_event_binaries(ev),
				sios_event_binary_count(ev));
		sios_scope_free(sc);
	}
}

static const char page[] =
	"<!doctype html><html><head><meta charset=\"utf-8\"><title>sios chat</title>\n"
	"<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
	"#log{border:1px solid #ccc;height:20em;overflow-y:auto;padding:.5em;list-style:none}"
	"</style></head><body><h1>sios chat</h1>\n"
	"<p><input id=\"me\" placeholder=\"your name\"> <input id=\"friends\" "
	"placeholder=\"friends, comma separated\" size=\"30\"> <button id=\"login\">Sign in</button> "
	"online friends: <span id=\"online\"></span></p>\n"
	"<p><input id=\"room\" value=\"lobby\" placeholder=\"room\"> "
	"<button id=\"join\">Join</button> <span id=\"status\">connecting</span></p>\n"
	"<ul id=\"log\"></ul>\n"
	"<form id=\"form\"><input id=\"text\" autocomplete=\"off\" placeholder=\"message\" size=\"40\"> "
	"<button id=\"send\">Send</button></form>\n"
	"<script src=\"/socket.io/socket.io.min.js\"></script>\n"
	"<script>\n"
	"let socket = io();\n"
	"let room = null;\n"
	"const $ = (id) => document.getElementById(id);\n"
	"const online = new Set();\n"
	"const showOnline = () => { $('online').textContent = [...online].join(', ') || '-'; };\n"
	"const wire = () => {\n"
	"const add = (cls, text) => { const li = document.createElement('li'); li.className = cls;"
	" li.textContent = text; $('log').appendChild(li); $('log').scrollTop = 1e9; };\n"
	"socket.on('connect', () => { $('status').textContent = 'connected as ' + socket.id; });\n"
	"socket.on('disconnect', () => { $('status').textContent = 'disconnected'; });\n"
	"socket.on('joined', (d) => { room = d.room; $('status').textContent = 'in ' + room;"
	" add('info', 'you joined ' + d.room); });\n"
	"socket.on('user-joined', (d) => add('info', d.userId + ' joined'));\n"
	"socket.on('user-left', (d) => add('info', d.userId + ' left'));\n"
	"socket.on('message', (m) => add('message', (m.userId === socket.id ? 'me' : m.userId)"
	" + ': ' + m.text));\n"
	"socket.on('presence', (p) => { if (p.status === 'offline') online.delete(p.userId);"
	" else online.add(p.userId); showOnline(); add('info', p.userId + ' is ' + p.status); });\n"
	"};\n"
	"wire();\n"
	"$('login').onclick = () => { const friends = $('friends').value.split(',')"
	".map((f) => f.trim()).filter(Boolean); socket.disconnect(); room = null;"
	" socket = io({ auth: { userId: $('me').value, friends } }); wire();"
	" socket.emit('get-presence', friends, (list) => { online.clear();"
	" for (const p of list || []) if (p.status !== 'offline') online.add(p.userId); showOnline(); }); };\n"
	"$('join').onclick = () => { if (room) socket.emit('leave-room', room);"
	" socket.emit('join-room', $('room').value); };\n"
	"$('form').onsubmit = (e) => { e.preventDefault(); if (!room || !$('text').value) return;"
	" socket.emit('message', { roomId: room, text: $('text').value }); $('text').value = ''; };\n"
	"</script></body></html>\n";

static void on_http(sios_http_request *req, void *ud)
{
	const char *path = sios_http_path(req);

	(void)ud;
	if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
		sios_http_reply(req, 200, "text/html; charset=utf-8", page, sizeof(page) - 1);
}

/* socket.io-client's dist/ as `make demo` installs it, found from where this
 * program is (build/examples/chat, or a deeper build directory, in the
 * repository), not from the current directory */
static char *default_client_dir(void)
{
	static const char rel[] = "/tests/node_modules/socket.io-client/dist";
	char exe[4096], *dir;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	for (int up = 0; up < 5; up++) {
		char *slash = strrchr(exe, '/');

		if (!slash || slash == exe)
			return NULL;
		*slash = 0;
		dir = malloc(strlen(exe) + sizeof(rel));
		if (!dir)
			return NULL;
		sprintf(dir, "%s%s", exe, rel);
		if (access(dir, R_OK) == 0)
			return dir;
		free(dir);
	}
	return NULL;
}

static int check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "chat: %s: %s\n", what, sios_strerror(r));
		exit(1);
	}
	return r;
}

static const char usage[] =
	"usage: chat [--port N] [--admin-token T] [--client-dir DIR] [--redis URL]\n"
	"            [--presence-grace MS] [--presence-ttl SECONDS] [--recovery SECONDS]\n"
	"The sios demo: a room chat for browsers on http://127.0.0.1:N/ (port 3000\n"
	"unless --port; 0 picks a free one); \"/admin\" wants auth.token T.\n"
	"DIR is socket.io-client's dist/ directory, served at /socket.io/ (default:\n"
	"tests/node_modules/socket.io-client/dist of the repository this program\n"
	"was built in). With --redis redis://[:password@]host:port[/db] the chat\n"
	"shares its rooms with every server (sios or Node) on that Redis.\n";

/* A bad command line: one line on stderr, exit status 2. */
_Noreturn static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("chat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	exit(2);
}

static const char *value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		bad_usage("%s needs a value", argv[*i]);
	return argv[++*i];
}

/* the whole of v as a decimal number from 0 to max */
static int number(const char *opt, const char *v, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno || n > max)
		bad_usage("%s: '%s' is not a number from 0 to %ld", opt, v, max);
	return (int)n;
}

int main(int argc, char **argv)
{
	char *found = NULL;
	const char *dir = NULL, *redis = NULL;
	sios_config *cfg;
	sios_server *srv;
	sios_nsp *root, *admin, *ws;
	int port = 3000, grace = 0, ttl = 30, recovery = 120;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--port"))
			port = number(a, value(argc, argv, &i), 65535);
		else if (!strcmp(a, "--admin-token"))
			admin_token = value(argc, argv, &i);
		else if (!strcmp(a, "--client-dir"))
			dir = value(argc, argv, &i);
		else if (!strcmp(a, "--redis"))
			redis = value(argc, argv, &i);
		else if (!strcmp(a, "--presence-grace"))
			grace = number(a, value(argc, argv, &i), 3600000);
		else if (!strcmp(a, "--presence-ttl"))
			ttl = number(a, value(argc, argv, &i), 86400);
		else if (!strcmp(a, "--recovery"))
			recovery = number(a, value(argc, argv, &i), 86400);
		else
			bad_usage("unknown option %s", a);
	}
	if (!dir)
		dir = found = default_client_dir();
	check(sios_config_new(&cfg), "config");
	/* the page's client script, served by sios as Node's serveClient does */
	if (dir)
		check(sios_config_set_serve_client(cfg, dir), "client bundle");
	else
		fprintf(stderr, "chat: socket.io-client not found (make deps, or --client-dir): "
				"the page will not connect\n");
	check(sios_config_set_host(cfg, "127.0.0.1"), "host");
	check(sios_config_set_port(cfg, port), "port");
	check(sios_config_set_cleanup_empty_namespaces(cfg, 1), "cleanup");
	/* a client whose connection breaks for up to --recovery seconds comes
	 * back with its id, rooms and what it missed (in this process's
	 * memory); events then carry their offset as a last argument */
	check(sios_config_set_recovery(cfg, (unsigned)recovery * 1000u, 0), "recovery");
	if (redis && sios_config_set_redis(cfg, redis) < 0)
		bad_usage("--redis: '%s' is not redis://[:password@]host:port[/db], or this "
			  "sios has no Redis support", redis);
	check(sios_server_new(cfg, &srv), "server (is socket.io-client installed? make deps)");
	sios_config_free(cfg);
	free(found);
	sios_server_http_callback_set(srv, on_http, NULL);

	check(sios_of(srv, "/", &root), "namespace /");
	sios_nsp_on(root, "join-room", on_join, NULL);
	sios_nsp_on(root, "leave-room", on_leave, NULL);
	sios_nsp_on(root, "message", on_message, NULL);
	sios_nsp_on(root, "room-size", on_room_size, NULL);
	check(sios_presence_new(root, &presence), "presence");
	/* the demo believes auth.userId: a real application names the user
	 * from something it can check (a token) with sios_presence_set_user() */
	check(sios_presence_set_auth_key(presence, "userId"), "presence");
	sios_nsp_use(root, friends_from_auth, NULL);
	sios_nsp_on(root, "get-presence", on_get_presence, NULL);
	sios_nsp_on(root, "set-status", on_set_status, NULL);
	check(sios_queue_new(presence, &queue), "queue");
	sios_nsp_on(root, "direct", on_direct, NULL);
	sios_presence_set_grace(presence, (unsigned)grace);
	if (sios_presence_set_ttl(presence, (unsigned)ttl) < 0)
		bad_usage("--presence-ttl: %d is not from 3 to 86400 seconds", ttl);
	sios_nsp_disconnecting_callback_set(root, on_disconnecting, NULL);

	check(sios_of(srv, "/admin", &admin), "namespace /admin");
	sios_nsp_use(admin, admin_auth, NULL);
	sios_nsp_on(admin, "admin-action", on_admin_action, NULL);

	check(sios_of_regex(srv, "^/workspace-[0-9]+$", &ws), "workspaces");
	sios_nsp_on(ws, "message", on_workspace_message, NULL);

	sios_server_stop_on_signal(srv, SIGINT);
	sios_server_stop_on_signal(srv, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	printf("open http://127.0.0.1:%d/ in two browser tabs\n", sios_server_port(srv));
	fflush(stdout);
	check(sios_server_run(srv), "run");
	sios_server_free(srv);
	return 0;
}
