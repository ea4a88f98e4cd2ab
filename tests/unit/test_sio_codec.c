/* Socket.IO v5 packet codec: every packet type, namespaces, ack ids,
 * binary placeholders, malformed input. */
#include <stdlib.h>
#include <string.h>

#include "protocol/protocol.h"
#include "tap.h"

static int dec(const char *s, sios__packet *p) { return sios__packet_decode(s, strlen(s), p); }

static int json_is(const cJSON *j, const char *want)
{
	char *t = cJSON_PrintUnformatted(j);
	int ok = t && !strcmp(t, want);

	if (!ok)
		printf("# got %s want %s\n", t ? t : "(null)", want);
	free(t);
	return ok;
}

static void test_decode_types(void)
{
	sios__packet p;

	CHECK(dec("0", &p) == 0 && p.type == 0 && !strcmp(p.nsp, "/") && !p.data && p.id == -1,
	      "CONNECT to / without auth");
	sios__packet_clear(&p);
	CHECK(dec("0{\"token\":\"x\"}", &p) == 0 && json_is(p.data, "{\"token\":\"x\"}"),
	      "CONNECT with auth");
	sios__packet_clear(&p);
	CHECK(dec("0/admin,{\"t\":1}", &p) == 0 && !strcmp(p.nsp, "/admin") && p.data,
	      "CONNECT to a namespace with auth");
	sios__packet_clear(&p);
	CHECK(dec("0/admin,", &p) == 0 && !strcmp(p.nsp, "/admin") && !p.data,
	      "CONNECT to a namespace, trailing comma");
	sios__packet_clear(&p);
	CHECK(dec("0/admin", &p) == 0 && !strcmp(p.nsp, "/admin") && !p.data,
	      "CONNECT to a namespace without the comma");
	sios__packet_clear(&p);
	CHECK(dec("1", &p) == 0 && p.type == 1, "DISCONNECT from /");
	sios__packet_clear(&p);
	CHECK(dec("1/admin,", &p) == 0 && p.type == 1 && !strcmp(p.nsp, "/admin"),
	      "DISCONNECT from a namespace");
	sios__packet_clear(&p);
	CHECK(dec("2[\"hello\",1,{\"a\":[true,null]}]", &p) == 0 && p.type == 2 && p.id == -1 &&
		      json_is(p.data, "[\"hello\",1,{\"a\":[true,null]}]"),
	      "EVENT with arguments");
	sios__packet_clear(&p);
	CHECK(dec("2/chat,12[\"m\"]", &p) == 0 && p.id == 12 && !strcmp(p.nsp, "/chat"),
	      "EVENT in a namespace with an ack id");
	sios__packet_clear(&p);
	CHECK(dec("21234567[\"m\"]", &p) == 0 && p.id == 1234567, "multi-digit ack id");
	sios__packet_clear(&p);
	CHECK(dec("30[]", &p) == 0 && p.type == 3 && p.id == 0, "ACK with id 0, no arguments");
	sios__packet_clear(&p);
	CHECK(dec("3/admin,45[\"ok\",2]", &p) == 0 && p.id == 45 && json_is(p.data, "[\"ok\",2]"),
	      "ACK in a namespace");
	sios__packet_clear(&p);
	CHECK(dec("4{\"message\":\"no\"}", &p) == 0 && p.type == 4, "CONNECT_ERROR object");
	sios__packet_clear(&p);
	CHECK(dec("51-[\"up\",{\"_placeholder\":true,\"num\":0}]", &p) == 0 && p.type == 5 &&
		      p.attachments == 1,
	      "BINARY_EVENT with one attachment");
	sios__packet_clear(&p);
	CHECK(dec("52-/files,7[\"up\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
		  &p) == 0 &&
		      p.attachments == 2 && p.id == 7 && !strcmp(p.nsp, "/files"),
	      "BINARY_EVENT with namespace, id and two attachments");
	sios__packet_clear(&p);
	CHECK(dec("61-3[{\"_placeholder\":true,\"num\":0}]", &p) == 0 && p.type == 6 && p.id == 3,
	      "BINARY_ACK");
	sios__packet_clear(&p);
	/* socket.io-parser accepts a number as an event name; JS makes it a
	 * string key */
	CHECK(dec("2[1,\"a\"]", &p) == 0 && !strcmp(p.data->child->valuestring, "1") &&
		      cJSON_GetArraySize(p.data) == 2,
	      "a numeric event name becomes the string \"1\"");
	sios__packet_clear(&p);
	CHECK(dec("2[2.5]", &p) == 0 && !strcmp(p.data->child->valuestring, "2.5"),
	      "a fractional event name as JavaScript prints it");
	sios__packet_clear(&p);
	/* found by fuzzing: a name beyond long long was converted first */
	CHECK(dec("27[9257199259257194740991]", &p) == 0 && p.id == 7 &&
		      !strcmp(p.data->child->valuestring, "9.2571992592571947e+21"),
	      "a huge numeric event name: no overflow, a name all the same");
	sios__packet_clear(&p);
	/* an ACK without an id or data matches nothing: accepted, then ignored */
	CHECK(dec("3", &p) == 0 && p.id == -1 && cJSON_IsArray(p.data), "ACK without id or data");
	sios__packet_clear(&p);
	CHECK(dec("3[1]", &p) == 0 && p.id == -1, "ACK without id");
	sios__packet_clear(&p);
	/* ack ids: any integer JavaScript holds exactly */
	CHECK(dec("29007199254740991[\"x\"]", &p) == 0 && p.id == 9007199254740991LL,
	      "ack id 2^53 - 1");
	sios__packet_clear(&p);
	CHECK(dec("29007199254740992[\"x\"]", &p) < 0, "ack id 2^53 refused");
	/* a lone surrogate (text cut inside an emoji) is valid in JavaScript */
	CHECK(dec("2[\"m\",\"cut \\ud83d\"]", &p) == 0 &&
		      !strcmp(cJSON_GetArrayItem(p.data, 1)->valuestring, "cut \xef\xbf\xbd"),
	      "a lone high surrogate becomes U+FFFD, the event goes on");
	sios__packet_clear(&p);
	CHECK(dec("2[\"m\",\"\\ude00 and \\ud83d\\ude00\"]", &p) == 0 &&
		      !strcmp(cJSON_GetArrayItem(p.data, 1)->valuestring,
			      "\xef\xbf\xbd and \xf0\x9f\x98\x80"),
	      "a lone low surrogate too, a proper pair is kept");
	sios__packet_clear(&p);
	CHECK(dec("2[\"m\",\"\\\\ud83d\"]", &p) == 0 &&
		      !strcmp(cJSON_GetArrayItem(p.data, 1)->valuestring, "\\ud83d"),
	      "an escaped backslash before ud83d is text, not a surrogate");
	sios__packet_clear(&p);
}

static void test_malformed(void)
{
	const char *bad[] = {
		"",                 /* empty */
		"7",                /* unknown type */
		"x",                /* not a digit */
		"2{}",              /* event payload is not an array */
		"2[]",              /* event without a name */
		"2[true]",          /* name is neither a string nor a number */
		"2abc[\"x\"]",      /* garbage before the payload */
		"2[\"x\"",          /* truncated JSON */
		"2[\"x\"]junk",     /* trailing garbage */
		"2[\"connect\"]",   /* reserved name */
		"2[\"disconnect\"]",
		"0[1]",             /* CONNECT payload must be an object */
		"1{\"a\":1}",       /* DISCONNECT carries nothing */
		"3{}",              /* ACK payload must be an array */
		"31{}",             /* ACK payload must be an array */
		"5[\"x\"]",         /* binary without a count */
		"51[\"x\"]",        /* binary count without '-' */
		"59999999-[\"x\"]", /* absurd attachment count */
		"0/admin,5",        /* CONNECT with an id */
		"212345678901234567[\"x\"]", /* id beyond 2^53 */
	};
	int all = 1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sios__packet p;

		if (dec(bad[i], &p) == 0) {
			printf("# accepted: %s\n", bad[i]);
			sios__packet_clear(&p);
			all = 0;
		}
	}
	CHECK(all, "%zu malformed packets are refused", sizeof(bad) / sizeof(bad[0]));
}

static void test_placeholders(void)
{
	cJSON *j = cJSON_Parse("[{\"a\":[1,{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0}]");
	cJSON *bad = cJSON_Parse("[{\"_placeholder\":true,\"num\":2}]");
	cJSON *frac = cJSON_Parse("[{\"_placeholder\":true,\"num\":0.5}]");

	CHECK(sios__placeholders_valid(j, 2), "nested placeholders within the attachment count");
	CHECK(!sios__placeholders_valid(j, 1), "a placeholder past the attachment count is refused");
	CHECK(!sios__placeholders_valid(bad, 2), "num 2 of 2 is refused");
	CHECK(!sios__placeholders_valid(frac, 2), "a fractional num is refused");
	cJSON_Delete(j);
	cJSON_Delete(bad);
	cJSON_Delete(frac);
}

static int frame_is(const sios__frame *f, const char *want)
{
	int ok = f->head && f->head->len == strlen(want) && !memcmp(f->head->data, want, f->head->len);

	if (!ok)
		printf("# got %.*s want %s\n", f->head ? (int)f->head->len : 0,
		       f->head ? (const char *)f->head->data : "", want);
	return ok;
}

static void test_encode(void)
{
	sios__frame f;
	cJSON *args = cJSON_Parse("[1,\"two\",{\"k\":[3,null]}]");
	cJSON *data = cJSON_Parse("{\"sid\":\"abc\"}");
	const sios_binary bins[2] = {{"\x01\x02", 2}, {"xyz", 3}};
	cJSON *bargs, *swapped;

	CHECK(sios__encode_message(&f, 0, "/", -1, "hello", args, NULL, 0) == 0 &&
		      frame_is(&f, "42[\"hello\",1,\"two\",{\"k\":[3,null]}]"),
	      "EVENT on / is compact, no namespace");
	sios__frame_clear(&f);
	CHECK(sios__encode_message(&f, 0, "/chat", 42, "m\"q", NULL, NULL, 0) == 0 &&
		      frame_is(&f, "42/chat,42[\"m\\\"q\"]"),
	      "EVENT with namespace, id, escaped name and no arguments");
	sios__frame_clear(&f);
	CHECK(sios__encode_message(&f, 1, "/", 7, NULL, args, NULL, 0) == 0 &&
		      frame_is(&f, "437[1,\"two\",{\"k\":[3,null]}]"),
	      "ACK");
	sios__frame_clear(&f);
	CHECK(sios__encode_message(&f, 1, "/a", 8, NULL, NULL, NULL, 0) == 0 &&
		      frame_is(&f, "43/a,8[]"),
	      "ACK without arguments");
	sios__frame_clear(&f);
	bargs = cJSON_CreateArray();
	cJSON_AddItemToArray(bargs, sios_binary_placeholder(0));
	{
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToObject(o, "deep", sios_binary_placeholder(1));
		cJSON_AddItemToArray(bargs, o);
	}
	CHECK(sios__encode_message(&f, 0, "/", -1, "up", bargs, bins, 2) == 0 &&
		      frame_is(&f, "452-[\"up\",{\"_placeholder\":true,\"num\":0},{\"deep\":{\"_placeholder\":true,\"num\":1}}]") &&
		      f.natts == 2 && f.atts[0]->len == 2 && f.atts[1]->len == 3,
	      "BINARY_EVENT with a nested placeholder, attachments in order");
	sios__frame_clear(&f);
	swapped = cJSON_Parse("[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]");
	CHECK(sios__encode_message(&f, 1, "/", 3, NULL, swapped, bins, 2) == 0 &&
		      frame_is(&f, "462-3[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]") &&
		      f.atts[0]->len == 3 && f.atts[1]->len == 2,
	      "placeholders renumbered in order of appearance, attachments follow");
	sios__frame_clear(&f);
	CHECK(sios__encode_simple(&f, SIOS__P_CONNECT, "/", data) == 0 &&
		      frame_is(&f, "40{\"sid\":\"abc\"}"),
	      "CONNECT reply on /");
	sios__frame_clear(&f);
	CHECK(sios__encode_simple(&f, SIOS__P_CONNECT_ERROR, "/random", data) == 0 &&
		      frame_is(&f, "44/random,{\"sid\":\"abc\"}"),
	      "CONNECT_ERROR in a namespace");
	sios__frame_clear(&f);
	CHECK(sios__encode_simple(&f, SIOS__P_DISCONNECT, "/admin", NULL) == 0 &&
		      frame_is(&f, "41/admin,"),
	      "DISCONNECT from a namespace");
	sios__frame_clear(&f);
	{
		sios__packet p;
		int ok = sios__encode_message(&f, 0, "/x", 99, "e", args, NULL, 0) == 0 &&
			 sios__packet_decode((const char *)f.head->data + 1, f.head->len - 1, &p) == 0 &&
			 p.id == 99 && !strcmp(p.nsp, "/x");

		CHECK(ok, "encode then decode round-trips");
		if (ok)
			sios__packet_clear(&p);
		sios__frame_clear(&f);
	}
	CHECK(sios__encode_message(&f, 0, "/", -1, "e", data, NULL, 0) == SIOS_EINVAL,
	      "arguments that are not an array are refused");
	cJSON_Delete(args);
	cJSON_Delete(data);
	cJSON_Delete(bargs);
	cJSON_Delete(swapped);
}

/* One buffer named by many placeholders goes on the wire once: the
 * amplification a client could get by sending one attachment and 30000
 * placeholders for it, echoed back. */
#define PH_HEAD "451-[\"e\",{\"_placeholder\":true,\"num\":0},{"

static void test_encode_shared_attachments(void)
{
	static const unsigned char big[65536];
	sios_binary bins[2] = {{big, sizeof(big)}, {"x", 1}};
	cJSON *args = cJSON_CreateArray();
	sios__frame f;
	size_t head_len;

	for (int i = 0; i < 30000; i++)
		cJSON_AddItemToArray(args, sios_binary_placeholder(0));
	CHECK(sios__encode_message(&f, 0, "/", -1, "e", args, bins, 1) == 0 && f.natts == 1 &&
		      f.atts[0]->len == sizeof(big) &&
		      !memcmp(f.head->data, PH_HEAD, sizeof(PH_HEAD) - 1),
	      "30000 placeholders for one buffer: one attachment");
	head_len = f.head ? f.head->len : 0;
	sios__frame_clear(&f);
	CHECK(head_len < 30000 * 32, "the text stays the size of the placeholders (%zu bytes)",
	      head_len);
	cJSON_Delete(args);

	args = cJSON_Parse("[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0},"
			   "{\"_placeholder\":true,\"num\":1}]");
	CHECK(sios__encode_message(&f, 0, "/", -1, "e", args, bins, 2) == 0 &&
		      frame_is(&f, "452-[\"e\",{\"_placeholder\":true,\"num\":0},"
				   "{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]") &&
		      f.natts == 2 && f.atts[0]->len == 1 && f.atts[1]->len == sizeof(big),
	      "repeated and swapped placeholders: each buffer once, in order of first appearance");
	sios__frame_clear(&f);
	cJSON_Delete(args);

	{
		sios_binary many[1001];

		args = cJSON_CreateArray();
		for (int i = 0; i < 1001; i++) {
			many[i].data = "y";
			many[i].len = 1;
			cJSON_AddItemToArray(args, sios_binary_placeholder(i));
		}
		CHECK(sios__encode_message(&f, 0, "/", -1, "e", args, many, 1001) == SIOS_ETOOBIG,
		      "more than 1000 distinct attachments in one packet: SIOS_ETOOBIG");
		cJSON_DeleteItemFromArray(args, 1000);
		CHECK(sios__encode_message(&f, 0, "/", -1, "e", args, many, 1001) == 0 &&
			      f.natts == 1000,
		      "1000 attachments: accepted");
		sios__frame_clear(&f);
		cJSON_Delete(args);
	}
}

int main(void)
{
	test_decode_types();
	test_malformed();
	test_placeholders();
	test_encode();
	test_encode_shared_attachments();
	return DONE();
}
