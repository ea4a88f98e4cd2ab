/* Calls the API from a thread that is not the loop's, as a program must
 * not, and prints what each call returned: in a build with thread checks
 * (SIOS_FEATURE_THREAD_CHECKS) every one is SIOS_EMISUSE; sios_server_post()
 * works from any thread. Exits 0 when everything was freed. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sios.h>

static sios_server *srv;
static sios_nsp *root;

static void *off_loop(void *arg)
{
	sios_nsp *n;
	sios_scope *sc;
	cJSON *args = cJSON_CreateArray();

	(void)arg;
	if (!(sios_features() & SIOS_FEATURE_THREAD_CHECKS)) {
		/* unchecked, these calls would race with the loop: not made */
		cJSON_Delete(args);
		return NULL;
	}
	printf("sios_of %s\n", sios_err_name(sios_of(srv, "/other", &n)));
	printf("sios_nsp_on %s\n", sios_err_name(sios_nsp_on(root, "x", NULL, NULL)));
	printf("sios_room_emit %s\n", sios_err_name(sios_room_emit(root, "r", "e", args, NULL, 0)));
	printf("sios_scope_new %s\n", sios_err_name(sios_scope_new(root, &sc)));
	printf("sios_server_stop %s\n", sios_err_name(sios_server_stop(srv)));
	cJSON_Delete(args);
	return NULL;
}

static void stop(sios_server *s, void *ud)
{
	(void)ud;
	printf("posted %s\n", sios_err_name(sios_server_stop(s)));
}

int main(void)
{
	sios_config *cfg;
	pthread_t t;

	sios_config_new(&cfg);
	sios_config_set_port(cfg, 0);
	sios_config_set_host(cfg, "127.0.0.1");
	if (sios_server_new(cfg, &srv))
		return 1;
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	printf("checks %s\n", sios_features() & SIOS_FEATURE_THREAD_CHECKS ? "on" : "off");
	pthread_create(&t, NULL, off_loop, NULL);
	pthread_join(t, NULL);
	/* the one call safe from any thread: ends the loop run below */
	sios_server_post(srv, stop, NULL);
	sios_server_run(srv);
	sios_server_free(srv);
	return 0;
}
