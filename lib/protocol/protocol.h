/* protocol: the Socket.IO v5 packet codec. Decodes (binary attachments are
 * collected by the caller) and encodes once into shared frames: a packet is
 * serialised into refcounted buffers that any number of sessions can queue.
 * Knows nothing about sessions or sockets. */
#ifndef SIOS_PROTOCOL_H
#define SIOS_PROTOCOL_H

#include <cjson/cJSON.h>

#include "util/util.h"

enum {
	SIOS__P_CONNECT = 0,
	SIOS__P_DISCONNECT = 1,
	SIOS__P_EVENT = 2,
	SIOS__P_ACK = 3,
	SIOS__P_CONNECT_ERROR = 4,
	SIOS__P_BINARY_EVENT = 5,
	SIOS__P_BINARY_ACK = 6
};

#define SIOS__MAX_ATTACHMENTS 1000

typedef struct sios__packet {
	int type;
	char *nsp;       /* "/" when absent; owned */
	long long id;    /* -1 when absent */
	cJSON *data;     /* owned; NULL when absent */
	size_t attachments; /* binary frames that follow */
} sios__packet;

/* Parses one text packet; 0 or -1 (malformed: wrong type, bad namespace,
 * id or JSON, or a payload of the wrong shape for its type). */
int sios__packet_decode(const char *s, size_t n, sios__packet *out);
void sios__packet_clear(sios__packet *p);

/* Whether node is {"_placeholder":true,"num":k} with 0 <= k < nbins; k in *num. */
int sios__is_placeholder(const cJSON *node, size_t nbins, int *num);
/* Every placeholder of a decoded binary packet refers to a received attachment. */
int sios__placeholders_valid(const cJSON *node, size_t nbins);

int sios__reserved_event(const char *name);

/* An encoded packet: the Engine.IO message (type '4' included, websocket
 * form) and its binary attachments, each a shared buffer. */
typedef struct sios__frame {
	sios__buf *head;
	sios__buf **atts;
	size_t natts;
} sios__frame;

void sios__frame_clear(sios__frame *f);
/* dst shares src's buffers (one more reference each) */
int sios__frame_copy(sios__frame *dst, const sios__frame *src);

/* EVENT / ACK (binary variants chosen automatically when bins are
 * referenced): event is NULL for an ack; id < 0 for none. */
int sios__encode_message(sios__frame *f, int is_ack, const char *nsp,
			 long long id, const char *event, const cJSON *args,
			 const sios_binary *bins, size_t nbins);
/* CONNECT reply, CONNECT_ERROR, DISCONNECT: data may be NULL. */
int sios__encode_simple(sios__frame *f, int type, const char *nsp,
			const cJSON *data);

/* ---- attachment reassembly (assemble.c) ---- */

typedef struct sios__assembler {
	sios__packet pending; /* a packet waiting for its attachments */
	int waiting;
	sios_binary *bins; /* received so far, owned copies */
	size_t nbins;
	size_t bytes;
} sios__assembler;

enum {
	SIOS__ASM_PACKET = 1, /* a whole packet: see below */
	SIOS__ASM_WAIT = 0,   /* attachments still to come */
	SIOS__ASM_ERR_MALFORMED = -1,
	SIOS__ASM_ERR_ORDER = -2,       /* text while waiting, or binary unannounced */
	SIOS__ASM_ERR_PLACEHOLDER = -3, /* a placeholder names no attachment */
	SIOS__ASM_ERR_TOOBIG = -4,      /* over max_bytes for this connection */
	SIOS__ASM_ERR_NOMEM = -5
};

/* A text message. SIOS__ASM_PACKET: *out is a whole packet without
 * attachments (the caller clears it). SIOS__ASM_WAIT: it waits in a. */
int sios__asm_text(sios__assembler *a, const char *s, size_t n, sios__packet *out);
/* A binary message (copied). SIOS__ASM_PACKET: a->pending with a->bins is
 * whole; the caller uses it, then calls sios__asm_clear(). On an error the
 * caller closes the connection and clears a. */
int sios__asm_binary(sios__assembler *a, const void *data, size_t len, size_t max_bytes);
void sios__asm_clear(sios__assembler *a);
const char *sios__asm_strerror(int r);

/* Appends s as a JSON string literal. */
int sios__json_string(sios__str *out, const char *s);

#endif
