/* The TLS files are checked before lws sees them: lws 4.1.6 logs a failure
 * to load them and still serves plain sockets that then fail every
 * handshake. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "loop.h"

static FILE *open_pem(const char *what, const char *path)
{
	FILE *f = fopen(path, "r");

	if (!f)
		sios__log(SIOS__LOG_ERR, "TLS %s %s: %s", what, path, strerror(errno));
	return f;
}

int sios__tls_check(const char *cert, const char *key)
{
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	FILE *f;
	int r = SIOS_ETLS;

	if (!cert || !key)
		return SIOS_EINVAL;
	if (!(f = open_pem("certificate", cert)))
		return SIOS_ETLS;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		sios__log(SIOS__LOG_ERR, "TLS certificate %s: not a PEM certificate", cert);
		goto out;
	}
	if (!(f = open_pem("private key", key)))
		goto out;
	/* no passphrase callback: an encrypted key cannot be used unattended */
	k = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	fclose(f);
	if (!k) {
		sios__log(SIOS__LOG_ERR, "TLS private key %s: not an unencrypted PEM private key",
			  key);
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		sios__log(SIOS__LOG_ERR, "TLS private key %s does not belong to certificate %s", key,
			  cert);
		goto out;
	}
	r = 0;
out:
	ERR_clear_error(); /* OpenSSL's error queue is per thread: leave it clean */
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}
