/*
 * Tests of gateway/mime: encoded-words, base64 lines, the whole message
 * (CRLF only, one of each header), and recipient address checks.
 */
#include "codekey.h"
#include "gw.h"
#include "mime.h"
#include "sms.h"
#include "suites.h"
#include "util.h"
#include "verp.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* decode_words - concatenate the decoded text of "=?UTF-8?B?...?=" words */
static char *decode_words(const char *s)
{
	char *out = xcalloc(1, strlen(s) + 1);
	size_t o = 0;
	const char *p = s;

	while ((p = strstr(p, "=?UTF-8?B?"))) {
		p += 10;
		const char *e = strstr(p, "?=");
		size_t got = 0;
		ck_assert_ptr_nonnull(e);
		ck_assert_msg(e - p + 12 <= 75, "encoded-word longer than 75");
		ck_assert_int_eq(sodium_base642bin((unsigned char *)out + o, strlen(s) - o, p,
						   (size_t)(e - p), NULL, &got, NULL,
						   sodium_base64_VARIANT_ORIGINAL),
				 0);
		o += got;
		p = e + 2;
	}
	out[o] = 0;
	return out;
}

START_TEST(header_words)
{
	const char *zh = "学信网帐号激活邮件";
	char *h = mime_header_text("Plain ASCII subject");
	ck_assert_str_eq(h, "Plain ASCII subject");
	free(h);

	h = mime_header_text(zh);
	ck_assert(strncmp(h, "=?UTF-8?B?", 10) == 0);
	char *d = decode_words(h);
	ck_assert_str_eq(d, zh);
	free(d);
	free(h);

	/* long text: several words, folded, never a character cut in two */
	char longs[400] = "";
	for (int i = 0; i < 12; i++)
		strcat(longs, "学信网帐号");
	h = mime_header_text(longs);
	ck_assert_ptr_nonnull(strstr(h, "?=\r\n =?UTF-8?B?"));
	d = decode_words(h);
	ck_assert_str_eq(d, longs);
	free(d);
	/* each word decodes to whole characters (3 bytes each here) */
	for (const char *p = h; (p = strstr(p, "=?UTF-8?B?")); p += 10) {
		char *word = strndup(p, (size_t)(strstr(p + 10, "?=") + 2 - p));
		char *one = decode_words(word);
		ck_assert_uint_eq(strlen(one) % 3, 0);
		free(one);
		free(word);
	}
	free(h);

	/* control characters never go out raw */
	h = mime_header_text("a\r\nb");
	ck_assert_ptr_null(strchr(h, '\n'));
	free(h);
}
END_TEST

START_TEST(base64_lines)
{
	unsigned char data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7);
	char *b = mime_base64_lines(data, sizeof(data));
	size_t lines = 0;
	for (char *p = b; *p;) {
		char *e = strstr(p, "\r\n");
		ck_assert_ptr_nonnull(e);
		ck_assert_int_le(e - p, 76);
		lines++;
		p = e + 2;
	}
	ck_assert_uint_eq(lines, (sizeof(data) + 2) / 3 * 4 / 76 + 1);
	unsigned char back[1000];
	size_t got;
	ck_assert_int_eq(sodium_base642bin(back, sizeof(back), b, strlen(b), "\r\n", &got, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	ck_assert_uint_eq(got, sizeof(data));
	ck_assert(memcmp(back, data, got) == 0);
	free(b);
}
END_TEST

START_TEST(whole_message)
{
	struct spool_msg m = {0};
	size_t len;

	strcpy(m.id, "01M8K7MX69H6V");
	m.channel = "email";
	m.to = "student@example.edu.cn";
	m.from_name = "学信网";
	m.subject = "学信网帐号激活邮件";
	m.body = "第一行\n第二行\r\n";
	char *t = mime_build(&m, "noreply@chsi.com.cn", 1764400000000, &len);
	ck_assert_uint_eq(strlen(t), len);
	for (size_t i = 0; i < len; i++)
		if (t[i] == '\n')
			ck_assert_msg(i > 0 && t[i - 1] == '\r', "bare LF at %zu", i);
	ck_assert(strncmp(t, "From: =?UTF-8?B?", 16) == 0);
	ck_assert_ptr_nonnull(strstr(t, "?= <noreply@chsi.com.cn>\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "\r\nTo: student@example.edu.cn\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "\r\nDate: Sat, 29 Nov 2025 07:06:40 +0000\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "\r\nMessage-ID: <01M8K7MX69H6V@chsi.com.cn>\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "\r\nMIME-Version: 1.0\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
	ck_assert_ptr_nonnull(strstr(t, "\r\nContent-Transfer-Encoding: base64\r\n\r\n"));
	/* the body: canonical CRLF text in base64 */
	const char *b = strstr(t, "\r\n\r\n") + 4;
	unsigned char back[256];
	size_t got;
	ck_assert_int_eq(sodium_base642bin(back, sizeof(back) - 1, b, strlen(b), "\r\n", &got, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	back[got] = 0;
	ck_assert_str_eq((char *)back, "第一行\r\n第二行\r\n");
	/* the Subject decodes back */
	const char *s = strstr(t, "\r\nSubject: ");
	ck_assert_ptr_nonnull(s);
	char *subj = strndup(s + 11, (size_t)(strstr(s + 11, "\r\nDate:") - (s + 11)));
	char *d = decode_words(subj);
	ck_assert_str_eq(d, "学信网帐号激活邮件");
	free(d);
	free(subj);
	free(t);

	/* an ASCII display name is quoted, its quotes escaped */
	m.from_name = "CHSI \"Accounts\"";
	t = mime_build(&m, "noreply@chsi.com.cn", 0, NULL);
	const char *want = "From: \"CHSI \\\"Accounts\\\"\" <noreply@chsi.com.cn>\r\n";
	ck_assert(strncmp(t, want, strlen(want)) == 0);
	free(t);
}
END_TEST

START_TEST(addresses)
{
	const char *good[] = {"a@b.c", "first.last+tag@example.edu.cn", "x_y-z@sub.example.com",
			      NULL};
	const char *bad[] = {"",
			     "plain",
			     "@example.com",
			     "a@",
			     "a@@b.c",
			     "a b@c.d",
			     "a@b.c>",
			     "<a@b.c>",
			     "a@b.c\r\nRCPT TO:<x@y>",
			     "a,b@c.d",
			     ".a@b.c",
			     "a.@b.c",
			     "a@.b.c",
			     "用户@example.com",
			     NULL};
	for (int i = 0; good[i]; i++)
		ck_assert_msg(mime_addr_valid(good[i]), "refused %s", good[i]);
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(!mime_addr_valid(bad[i]), "accepted %s", bad[i]);
}
END_TEST

/* return paths: round trip, case folded by a mail system, forged, foreign */
START_TEST(verp_return_paths)
{
	char dir[] = "/tmp/rfverpXXXXXX", path[64], err[256], id[ID_LEN + 1];
	struct codekey_ring *keys = NULL;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/gw.key", dir);
	ck_assert_int_eq(codekey_create(path, err, sizeof(err)), 0);
	ck_assert_int_eq(codekey_load(path, &keys, err, sizeof(err)), 0);
	struct gw_conf c = {.from = "noreply@chsi.com.cn", .bounce_domain = "", .verp = 1};
	char *rp = gw_verp(&c, keys, "01M8T3G5PXDMY");
	ck_assert_ptr_nonnull(rp);
	ck_assert_msg(!strncmp(rp, "bounce+01M8T3G5PXDMY.k1.", 24) && strstr(rp, "@chsi.com.cn"),
		      "%s", rp);
	ck_assert_int_eq(verp_parse(keys, rp, id), 0);
	ck_assert_str_eq(id, "01M8T3G5PXDMY");
	for (char *p = rp; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	ck_assert_int_eq(verp_parse(keys, rp, id), 0);
	ck_assert_str_eq(id, "01M8T3G5PXDMY");
	/* another message's id with this MAC: forged */
	rp[7] = '2';
	ck_assert_int_eq(verp_parse(keys, rp, id), -EACCES);
	ck_assert_int_eq(verp_parse(keys, "noreply@chsi.com.cn", id), -EINVAL);
	ck_assert_int_eq(verp_parse(keys, "bounce+x@chsi.com.cn", id), -EINVAL);
	free(rp);
	c.verp = 0;
	ck_assert_ptr_null(gw_verp(&c, keys, "01M8T3G5PXDMY"));
	codekey_free(keys);
	unlink(path);
	rmdir(dir);
}
END_TEST

Suite *mime_suite(void)
{
	Suite *s = suite_create("mime");
	TCase *tc = tcase_create("mime");

	tcase_add_test(tc, header_words);
	tcase_add_test(tc, base64_lines);
	tcase_add_test(tc, whole_message);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, verp_return_paths);
	suite_add_tcase(s, tc);
	return s;
}

/* ---- gateway/sms: the request templates ---- */

START_TEST(sms_templates)
{
	struct sms_svc gc = {0};
	struct spool_msg m = {.id = "01M8K7MX69H6V",
			      .channel = "sms",
			      .to = "+8613800138000",
			      .body = "校验码 12 & \"x\"\n"};
	char err[128], *out;

	gc.username = "u s";
	gc.password = "p&w";
	gc.from = "";
	gc.dlr_mask = 27;
	ck_assert_int_eq(sms_expand("to={{to}}&text={{text}}&user={{username}}&pw={{password}}"
				    "&dlr-mask={{dlr_mask}}&dlr-url={{dlr_url}}",
				    &m, &gc, "http://h:1/dlr?id=X&type=%d", 'u', &out, err,
				    sizeof(err)),
			 0);
	ck_assert_str_eq(
		out, "to=%2B8613800138000&text=%E6%A0%A1%E9%AA%8C%E7%A0%81%2012%20%26%20%22x%22%0A"
		     "&user=u%20s&pw=p%26w&dlr-mask=27"
		     "&dlr-url=http%3A%2F%2Fh%3A1%2Fdlr%3Fid%3DX%26type%3D%25d");
	free(out);
	/* no delivery-report URL: no reports asked for */
	ck_assert_int_eq(sms_expand("{{dlr_mask}}", &m, &gc, "", 'u', &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out, "0");
	free(out);
	ck_assert_int_eq(sms_expand("{\"to\":\"{{to}}\",\"text\":\"{{text}}\",\"id\":\"{{id}}\"}",
				    &m, &gc, "", 'j', &out, err, sizeof(err)),
			 0);
	ck_assert_str_eq(out, "{\"to\":\"+8613800138000\",\"text\":\"校验码 12 & \\\"x\\\"\\n\","
			      "\"id\":\"01M8K7MX69H6V\"}");
	free(out);
	ck_assert_int_eq(sms_expand("to={{phone}}", &m, &gc, "", 'u', &out, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "{{phone}}"));
	ck_assert_int_eq(sms_expand("to={{to", &m, &gc, "", 'u', &out, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(sms_expand("plain", &m, &gc, "", 'u', &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out, "plain");
	free(out);
}
END_TEST

/* a check's request: its fields from the body, escaped where they go; an
 * SMS's variables are not a check's */
START_TEST(check_templates)
{
	struct sms_svc v = {.check = 1, .username = "u", .password = "p"};
	struct spool_msg m = {.id = "01M8K7MX69H6V",
			      .channel = "check",
			      .to = "registry",
			      .body = "{\"id_no\":\"11010519491231002X\",\"id_type\":\"resident\","
				      "\"name\":\"张 \\\"三\"}"};
	char err[128], *out;
	ck_assert_int_eq(sms_expand("{\"n\":\"{{name}}\",\"no\":\"{{id_no}}\",\"ref\":\"{{id}}\"}",
				    &m, &v, "", 'j', &out, err, sizeof(err)),
			 0);
	ck_assert_str_eq(out, "{\"n\":\"张 \\\"三\",\"no\":\"11010519491231002X\",\"ref\":"
			      "\"01M8K7MX69H6V\"}");
	free(out);
	ck_assert_int_eq(sms_expand("name={{name}}&t={{id_type}}&u={{username}}", &m, &v, "", 'u',
				    &out, err, sizeof(err)),
			 0);
	ck_assert_str_eq(out, "name=%E5%BC%A0%20%22%E4%B8%89&t=resident&u=u");
	free(out);
	ck_assert_int_eq(sms_expand("{{text}}", &m, &v, "", 'u', &out, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "{{text}}"));
}
END_TEST

Suite *sms_suite(void)
{
	Suite *s = suite_create("sms");
	TCase *tc = tcase_create("sms");

	tcase_add_test(tc, sms_templates);
	tcase_add_test(tc, check_templates);
	suite_add_tcase(s, tc);
	return s;
}
