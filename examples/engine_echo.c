/*
 * engine_echo: a raw Engine.IO endpoint at /engine.io/ that sends every
 * message back to its sender, text as text and binary as binary.
 *
 *   engine_echo [--port N] [--ping-interval MS] [--ping-timeout MS]
 *               [--max-payload BYTES] [--max-connections N] [--cors ORIGIN]
 *               [--transports polling|websocket|both]
 *
 * The text message "bye" makes the server close that connection instead.
 * Handshakes with ?deny=1 or "X-Deny: yes" are refused (403).
 * It prints "listening on port N" once it accepts connections, and
 * "open <sid> tag=<?tag> ua=<user-agent> addr=<peer> transport=<t>" and
 * "close <sid> <reason>" for every connection.
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
	"usage: engine_echo [--port N] [--ping-interval MS] [--ping-timeout MS]\n"
	"                   [--max-payload BYTES] [--max-connections N] [--cors ORIGIN]\n"
	"                   [--transports polling|websocket|both]\n"
	"A raw Engine.IO echo endpoint at /engine.io/ on 127.0.0.1 (port 3000 unless\n"
	"--port; 0 picks a free one). --cors may be given several times.\n";

static sios_config *cfg;

static void on_open(sios_eio_conn *c, void *ud)
{
	const char *tag = sios_eio_conn_query(c, "tag"), *ua = sios_eio_conn_header(c, "user-agent");

	(void)ud;
	printf("open %s tag=%s ua=%s addr=%s transport=%s\n", sios_eio_conn_id(c), tag ? tag : "-",
	       ua ? ua : "-", sios_eio_conn_remote_addr(c),
	       sios_eio_conn_transport(c) == SIOS_TRANSPORT_WEBSOCKET ? "websocket" : "polling");
	fflush(stdout);
}

static void on_message(sios_eio_conn *c, const void *data, size_t len, int binary, void *ud)
{
	(void)ud;
	if (!binary && len == 3 && !memcmp(data, "bye", 3))
		sios_eio_close(c);
	else if (binary)
		sios_eio_send_binary(c, data, len);
	else
		sios_eio_send_text(c, data, len);
}

static void on_close(sios_eio_conn *c, int reason, void *ud)
{
	(void)ud;
	printf("close %s %s\n", sios_eio_conn_id(c), sios_reason_str(reason));
	fflush(stdout);
}

/* refuses handshakes with ?deny=1 or an "X-Deny: yes" header, to show the
 * request filter */
static void allow_request(sios_request *req, void *ud)
{
	const char *deny = sios_request_query(req, "deny");
	const char *hdr = sios_request_header(req, "x-deny");

	(void)ud;
	if (deny && !strcmp(deny, "1"))
		sios_request_reject(req, "denied by the application");
	else if (hdr && !strcmp(hdr, "yes"))
		sios_request_reject(req, NULL);
}

static int check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "engine_echo: %s: %s\n", what, sios_strerror(r));
		exit(1);
	}
	return r;
}

/* A bad command line: one line on stderr, exit status 2. */
_Noreturn static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("engine_echo: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	sios_config_free(cfg);
	exit(2);
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

static unsigned transports(const char *v)
{
	if (!strcmp(v, "polling"))
		return SIOS_TRANSPORT_POLLING;
	if (!strcmp(v, "websocket"))
		return SIOS_TRANSPORT_WEBSOCKET;
	if (!strcmp(v, "both"))
		return SIOS_TRANSPORT_POLLING | SIOS_TRANSPORT_WEBSOCKET;
	bad_usage("--transports: '%s' is not polling, websocket or both", v);
}

/* applies option a with value v; a value sios refuses is a bad command line too */
static void option(const char *a, const char *v)
{
	int r;

	if (!strcmp(a, "--port"))
		r = sios_config_set_port(cfg, (int)number(a, v, 65535));
	else if (!strcmp(a, "--ping-interval"))
		r = sios_config_set_ping_interval(cfg, (unsigned)number(a, v, UINT_MAX));
	else if (!strcmp(a, "--ping-timeout"))
		r = sios_config_set_ping_timeout(cfg, (unsigned)number(a, v, UINT_MAX));
	else if (!strcmp(a, "--max-payload"))
		r = sios_config_set_max_payload(cfg, (size_t)number(a, v, LONG_MAX));
	else if (!strcmp(a, "--max-connections"))
		r = sios_config_set_max_connections(cfg, (unsigned)number(a, v, UINT_MAX));
	else if (!strcmp(a, "--cors"))
		r = sios_config_add_cors_origin(cfg, v);
	else /* --transports */
		r = sios_config_set_transports(cfg, transports(v));
	if (r < 0)
		bad_usage("%s %s: %s", a, v, sios_strerror(r));
}

int main(int argc, char **argv)
{
	static const char *const opts[] = {"--port", "--ping-interval", "--ping-timeout",
					   "--max-payload", "--max-connections", "--cors",
					   "--transports"};
	sios_server *srv;
	sios_eio *ep;

	check(sios_config_new(&cfg), "config");
	check(sios_config_set_host(cfg, "127.0.0.1"), "host");
	check(sios_config_set_allow_request(cfg, allow_request, NULL), "allow_request");
	for (int i = 1; i < argc; i++) {
		size_t k = 0;

		if (!strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			sios_config_free(cfg);
			return 0;
		}
		while (k < sizeof(opts) / sizeof(opts[0]) && strcmp(argv[i], opts[k]))
			k++;
		if (k == sizeof(opts) / sizeof(opts[0]))
			bad_usage("unknown option %s", argv[i]);
		if (i + 1 == argc)
			bad_usage("%s needs a value", argv[i]);
		option(argv[i], argv[i + 1]);
		i++;
	}
	check(sios_server_new(cfg, &srv), "server");
	sios_config_free(cfg);
	check(sios_eio_mount(srv, "/engine.io/", &ep), "mount");
	sios_eio_open_callback_set(ep, on_open, NULL);
	sios_eio_message_callback_set(ep, on_message, NULL);
	sios_eio_close_callback_set(ep, on_close, NULL);
	sios_server_stop_on_signal(srv, SIGINT);
	sios_server_stop_on_signal(srv, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	check(sios_server_run(srv), "run");
	sios_server_free(srv);
	printf("stopped\n");
	return 0;
}
