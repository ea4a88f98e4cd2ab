/*
 * echo: a Socket.IO server on "/" and "/admin".
 *
 *   echo [--port N] [--ping-interval MS] [--ping-timeout MS]
 *        [--tls-cert FILE --tls-key FILE]   (https and wss)
 *
 * Events from clients:
 *   echo ...args          acknowledged with the same arguments, binary
 *                         included; without an ack, emitted back as "echo"
 *   ping-me [{timeout}]   the server emits "pong" to the sender with an ack
 *                         and prints the answer (or the timeout)
 *   bye [close]           the server disconnects the socket (and, with
 *                         true, the whole connection)
 * It prints one line per connection (and its handshake: the x-client
 * header, the room query argument, the peer address), answer and
 * disconnection.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static const char usage[] =
	"usage: echo [--port N] [--ping-interval MS] [--ping-timeout MS]\n"
	"            [--tls-cert FILE --tls-key FILE]\n"
	"A Socket.IO server on 127.0.0.1 (port 3000 unless --port; 0 picks a free one)\n"
	"that echoes events on \"/\" and \"/admin\".\n";

static sios_config *cfg;

static void print_json(const char *what, const char *id, const cJSON *j)
{
	char *txt = j ? cJSON_PrintUnformatted(j) : NULL;

	printf("%s %s %s\n", what, id, txt ? txt : "null");
	fflush(stdout);
	free(txt);
}

static void on_echo(sios_socket *sock, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);

	(void)ud;
	if (ack)
		sios_ack_send(ack, sios_event_args(ev), sios_event_binaries(ev),
			      sios_event_binary_count(ev));
	else
		sios_emit(sock, "echo", sios_event_args(ev), sios_event_binaries(ev),
			  sios_event_binary_count(ev));
}

static void on_pong_answer(sios_socket *sock, int status, const sios_event *resp, void *ud)
{
	char *id = ud;

	(void)sock;
	if (status == 0)
		print_json("pong-answer", id, sios_event_args(resp));
	else
		printf("pong-failed %s %s\n", id, sios_err_name(status));
	fflush(stdout);
	free(id);
}

static void on_ping_me(sios_socket *sock, const sios_event *ev, void *ud)
{
	const cJSON *opt = sios_event_arg(ev, 0);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(opt, "timeout");
	unsigned timeout = 5000;
	cJSON *args;
	char *id;

	(void)ud;
	/* a client's number is checked before it becomes an unsigned */
	if (cJSON_IsNumber(t)) {
		if (!(t->valuedouble >= 1 && t->valuedouble <= 600000)) {
			printf("ping-me %s refused: timeout out of range\n", sios_socket_id(sock));
			fflush(stdout);
			return;
		}
		timeout = (unsigned)t->valuedouble;
	}
	args = cJSON_CreateArray();
	id = strdup(sios_socket_id(sock));
	cJSON_AddItemToArray(args, cJSON_CreateString("hello from sios"));
	if (sios_emit_with_ack(sock, "pong", args, NULL, 0, timeout, on_pong_answer, id) < 0)
		free(id);
	cJSON_Delete(args);
}

static void on_bye(sios_socket *sock, const sios_event *ev, void *ud)
{
	(void)ud;
	sios_socket_disconnect(sock, cJSON_IsTrue(sios_event_arg(ev, 0)));
}

static void on_connection(sios_socket *sock, void *ud)
{
	(void)ud;
	const char *hdr = sios_socket_header(sock, "x-client"), *q = sios_socket_query(sock, "room");

	printf("connect %s %s ", sios_nsp_name(sios_socket_nsp(sock)), sios_socket_id(sock));
	print_json("auth", "", sios_socket_auth(sock));
	printf("handshake %s x-client=%s room=%s addr=%s\n", sios_socket_id(sock), hdr ? hdr : "-",
	       q ? q : "-", sios_socket_remote_addr(sock));
	fflush(stdout);
}

static void on_disconnect(sios_socket *sock, int reason, void *ud)
{
	(void)ud;
	printf("disconnect %s %s\n", sios_socket_id(sock), sios_reason_str(reason));
	fflush(stdout);
}

static int check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "echo: %s: %s\n", what, sios_strerror(r));
		exit(1);
	}
	return r;
}

/* A bad command line: one line on stderr, exit status 2. */
_Noreturn static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("echo: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	sios_config_free(cfg);
	exit(2);
}

static const char *value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		bad_usage("%s needs a value", argv[*i]);
	return argv[++*i];
}

/* the whole of v as a decimal number from 0 to max */
static long number(const char *opt, const char *v, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno || n > max)
		bad_usage("%s: '%s' is not a number from 0 to %ld", opt, v, max);
	return n;
}

/* a value sios refuses is a bad command line too */
static void set(int r, const char *opt, const char *v)
{
	if (r < 0)
		bad_usage("%s %s: %s", opt, v, sios_strerror(r));
}

int main(int argc, char **argv)
{
	static const char *names[] = {"/", "/admin"};
	const char *cert = NULL, *key = NULL, *v;
	sios_server *srv;

	check(sios_config_new(&cfg), "config");
	check(sios_config_set_host(cfg, "127.0.0.1"), "host");
	check(sios_config_keep_header(cfg, "x-client"), "keep_header");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help")) {
			fputs(usage, stdout);
			sios_config_free(cfg);
			return 0;
		} else if (!strcmp(a, "--port")) {
			v = value(argc, argv, &i);
			set(sios_config_set_port(cfg, (int)number(a, v, 65535)), a, v);
		} else if (!strcmp(a, "--ping-interval")) {
			v = value(argc, argv, &i);
			set(sios_config_set_ping_interval(cfg, (unsigned)number(a, v, UINT_MAX)), a, v);
		} else if (!strcmp(a, "--ping-timeout")) {
			v = value(argc, argv, &i);
			set(sios_config_set_ping_timeout(cfg, (unsigned)number(a, v, UINT_MAX)), a, v);
		} else if (!strcmp(a, "--tls-cert"))
			cert = value(argc, argv, &i);
		else if (!strcmp(a, "--tls-key"))
			key = value(argc, argv, &i);
		else
			bad_usage("unknown option %s", a);
	}
	if (!cert != !key)
		bad_usage("--tls-cert and --tls-key go together");
	if (cert)
		check(sios_config_set_tls(cfg, cert, key), "tls");
	check(sios_server_new(cfg, &srv), "server");
	sios_config_free(cfg);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		sios_nsp *nsp;

		check(sios_of(srv, names[i], &nsp), "namespace");
		sios_nsp_connection_callback_set(nsp, on_connection, NULL);
		sios_nsp_disconnect_callback_set(nsp, on_disconnect, NULL);
		check(sios_nsp_on(nsp, "echo", on_echo, NULL), "on echo");
		check(sios_nsp_on(nsp, "ping-me", on_ping_me, NULL), "on ping-me");
		check(sios_nsp_on(nsp, "bye", on_bye, NULL), "on bye");
	}
	sios_server_stop_on_signal(srv, SIGINT);
	sios_server_stop_on_signal(srv, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	check(sios_server_run(srv), "run");
	sios_server_free(srv);
	return 0;
}
