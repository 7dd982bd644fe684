/*
 * photo - id photos decoded, checked and re-encoded (see photo.h).  Every
 * format decodes into one RGB image (alpha and GIF transparency laid on
 * white), which libjpeg-turbo encodes afresh.
 */
#include "photo.h"
#include "util.h"

#include <errno.h>
#include <gif_lib.h>
#include <png.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* after stdio.h, which it needs */

struct img {
	unsigned w, h;
	unsigned char *px; /* w * h * 3, RGB */
};

struct rd {
	const unsigned char *p;
	size_t n, pos;
};

static int size_ok(unsigned long w, unsigned long h, char *err, size_t errlen)
{
	if (w == 0 || h == 0 || w > PHOTO_MAX_SIDE || h > PHOTO_MAX_SIDE ||
	    w * h > PHOTO_MAX_PIXELS) {
		snprintf(err, errlen, "%lux%lu pixels: at most %ux%u and %u pixels", w, h,
			 PHOTO_MAX_SIDE, PHOTO_MAX_SIDE, PHOTO_MAX_PIXELS);
		return 0;
	}
	return 1;
}

/* trailing_ok - nothing but zero padding after the image's end */
static int trailing_ok(const unsigned char *p, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++)
		if (p[i]) {
			snprintf(err, errlen, "%zu byte(s) of other data after the image", n);
			return 0;
		}
	return 1;
}

/* ---- JPEG (libjpeg-turbo) ---- */

struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
};

static void jerr_exit(j_common_ptr ci)
{
	struct jerr *e = (struct jerr *)ci->err;
	(*ci->err->format_message)(ci, e->msg);
	longjmp(e->jb, 1);
}

/* a warning (corrupt data, a premature end) is a refusal too */
static void jerr_emit(j_common_ptr ci, int level)
{
	if (level < 0)
		jerr_exit(ci);
}

/* scans - a progressive JPEG of thousands of tiny scans costs minutes for a
 * few KB: more than PHOTO_MAX_SCANS is refused (libjpeg-turbo's advice) */
static void scans(j_common_ptr ci)
{
	j_decompress_ptr d = (j_decompress_ptr)ci;
	struct jerr *e = (struct jerr *)ci->err;
	if (d->input_scan_number > PHOTO_MAX_SCANS) {
		snprintf(e->msg, sizeof(e->msg), "more than %d scans", PHOTO_MAX_SCANS);
		longjmp(e->jb, 1);
	}
}

static int jpeg_decode(const unsigned char *in, size_t n, struct img *im, char *err, size_t errlen)
{
	struct jpeg_progress_mgr progress = {.progress_monitor = scans};
	struct jpeg_decompress_struct ci;
	struct jerr je;
	volatile int rc = -EINVAL;
	ci.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = jerr_exit;
	je.pub.emit_message = jerr_emit;
	if (setjmp(je.jb)) {
		snprintf(err, errlen, "JPEG: %s", je.msg);
		goto out;
	}
	jpeg_create_decompress(&ci);
	ci.progress = &progress;
	ci.mem->max_memory_to_use = 256L << 20;
	jpeg_mem_src(&ci, in, (unsigned long)n);
	jpeg_read_header(&ci, TRUE);
	if (!size_ok(ci.image_width, ci.image_height, err, errlen)) {
		rc = -E2BIG;
		goto out;
	}
	if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
		snprintf(err, errlen, "JPEG: CMYK, not a photo of a screen or camera");
		goto out;
	}
	ci.out_color_space = JCS_RGB;
	jpeg_start_decompress(&ci);
	im->w = ci.output_width;
	im->h = ci.output_height;
	im->px = xmalloc((size_t)im->w * im->h * 3);
	while (ci.output_scanline < ci.output_height) {
		JSAMPROW row = im->px + (size_t)ci.output_scanline * im->w * 3;
		jpeg_read_scanlines(&ci, &row, 1);
	}
	jpeg_finish_decompress(&ci);
	size_t left = ci.src->bytes_in_buffer;
	if (trailing_ok(in + n - left, left, err, errlen))
		rc = 0;
out:
	jpeg_destroy_decompress(&ci);
	return rc;
}

static int jpeg_encode(const struct img *im, unsigned char **out, size_t *outlen, char *err,
		       size_t errlen)
{
	struct jpeg_compress_struct ci;
	struct jerr je;
	unsigned char *buf = NULL;
	unsigned long len = 0;
	volatile int rc = -ENOMEM;
	ci.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = jerr_exit;
	if (setjmp(je.jb)) {
		/* only out of memory gets here (the pixels are ours); the buffer
		 * is the library's until it finishes, so it is not freed */
		snprintf(err, errlen, "JPEG encoder: %s", je.msg);
		goto out;
	}
	jpeg_create_compress(&ci);
	jpeg_mem_dest(&ci, &buf, &len);
	ci.image_width = im->w;
	ci.image_height = im->h;
	ci.input_components = 3;
	ci.in_color_space = JCS_RGB;
	jpeg_set_defaults(&ci);
	jpeg_set_quality(&ci, PHOTO_JPEG_QUALITY, TRUE);
	jpeg_start_compress(&ci, TRUE); /* TRUE: complete tables; no other marker is written */
	while (ci.next_scanline < ci.image_height) {
		JSAMPROW row = im->px + (size_t)ci.next_scanline * im->w * 3;
		jpeg_write_scanlines(&ci, &row, 1);
	}
	jpeg_finish_compress(&ci);
	*out = buf;
	*outlen = len;
	rc = 0;
out:
	jpeg_destroy_compress(&ci);
	return rc;
}

/* ---- PNG (libpng) ---- */

static void png_rd(png_structp png, png_bytep out, size_t len)
{
	struct rd *r = png_get_io_ptr(png);
	if (len > r->n - r->pos)
		png_error(png, "truncated");
	memcpy(out, r->p + r->pos, len);
	r->pos += len;
}

static void png_err(png_structp png, png_const_charp msg)
{
	snprintf(png_get_error_ptr(png), 160, "%s", msg);
	png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
	(void)png; /* a warning (an odd chunk) is not a refusal */
	(void)msg;
}

/* flatten - RGBA rows laid on white into im's RGB */
static void flatten(const unsigned char *rgba, struct img *im)
{
	size_t n = (size_t)im->w * im->h;
	for (size_t i = 0; i < n; i++) {
		unsigned a = rgba[i * 4 + 3];
		for (int k = 0; k < 3; k++)
			im->px[i * 3 + k] =
				(unsigned char)((rgba[i * 4 + k] * a + 255 * (255 - a) + 127) /
						255);
	}
}

static int png_decode(const unsigned char *in, size_t n, struct img *im, char *err, size_t errlen)
{
	char msg[160] = "";
	struct rd r = {in, n, 0};
	unsigned char *volatile rgba = NULL;
	png_bytep *volatile rows = NULL;
	int volatile rc = -EINVAL;
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, png_err, png_warn);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!png || !info) {
		png_destroy_read_struct(&png, &info, NULL);
		snprintf(err, errlen, "PNG: out of memory");
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		snprintf(err, errlen, "PNG: %s", msg);
		goto out;
	}
	png_set_user_limits(png, PHOTO_MAX_SIDE, PHOTO_MAX_SIDE);
	png_set_chunk_malloc_max(png, 8u << 20);
	png_set_read_fn(png, &r, png_rd);
	png_read_info(png, info);
	if (!size_ok(png_get_image_width(png, info), png_get_image_height(png, info), err,
		     errlen)) {
		rc = -E2BIG;
		goto out;
	}
	png_set_expand(png);
	png_set_strip_16(png);
	png_set_gray_to_rgb(png);
	png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	im->w = png_get_image_width(png, info);
	im->h = png_get_image_height(png, info);
	if (png_get_rowbytes(png, info) != (size_t)im->w * 4) {
		snprintf(err, errlen, "PNG: an unexpected row layout");
		goto out;
	}
	rgba = xmalloc((size_t)im->w * im->h * 4);
	rows = xmalloc(im->h * sizeof(*rows));
	for (unsigned y = 0; y < im->h; y++)
		rows[y] = rgba + (size_t)y * im->w * 4;
	png_read_image(png, rows);
	png_read_end(png, NULL); /* the chunks up to IEND, their checksums checked */
	if (trailing_ok(in + r.pos, n - r.pos, err, errlen)) {
		im->px = xmalloc((size_t)im->w * im->h * 3);
		flatten(rgba, im);
		rc = 0;
	}
out:
	png_destroy_read_struct(&png, &info, NULL);
	free(rows);
	free(rgba);
	return rc;
}

/* ---- GIF (giflib): the first frame, on its screen ---- */

static int gif_rd(GifFileType *g, GifByteType *buf, int len)
{
	struct rd *r = g->UserData;
	size_t l = len > 0 ? (size_t)len : 0;
	if (l > r->n - r->pos)
		l = r->n - r->pos;
	memcpy(buf, r->p + r->pos, l);
	r->pos += l;
	return (int)l;
}

/* gif_frame - the image just described, onto im (the first) or skipped */
static int gif_frame(GifFileType *g, struct img *im, int first, int transparent, char *err,
		     size_t errlen)
{
	const GifImageDesc *d = &g->Image;
	GifByteType *block;
	int code;
	if (d->Left < 0 || d->Top < 0 || d->Width <= 0 || d->Height <= 0 ||
	    d->Left + d->Width > g->SWidth || d->Top + d->Height > g->SHeight) {
		snprintf(err, errlen, "GIF: a frame outside its screen");
		return -EINVAL;
	}
	if (!first) {
		if (DGifGetCode(g, &code, &block) == GIF_ERROR)
			return -EINVAL;
		while (block)
			if (DGifGetCodeNext(g, &block) == GIF_ERROR)
				return -EINVAL;
		return 0;
	}
	const ColorMapObject *cm = d->ColorMap ? d->ColorMap : g->SColorMap;
	if (!cm) {
		snprintf(err, errlen, "GIF: no colour table");
		return -EINVAL;
	}
	static const int start[] = {0, 4, 2, 1}, step[] = {8, 8, 4, 2};
	GifPixelType *line = xmalloc((size_t)d->Width);
	int rc = 0;
	for (int pass = 0; pass < (d->Interlace ? 4 : 1) && rc == 0; pass++)
		for (int y = d->Interlace ? start[pass] : 0; y < d->Height && rc == 0;
		     y += d->Interlace ? step[pass] : 1) {
			if (DGifGetLine(g, line, d->Width) == GIF_ERROR) {
				rc = -EINVAL;
				break;
			}
			for (int x = 0; x < d->Width; x++) {
				if (line[x] == transparent || line[x] >= cm->ColorCount)
					continue;
				unsigned char *p =
					im->px +
					((size_t)(d->Top + y) * im->w + (size_t)(d->Left + x)) * 3;
				p[0] = cm->Colors[line[x]].Red;
				p[1] = cm->Colors[line[x]].Green;
				p[2] = cm->Colors[line[x]].Blue;
			}
		}
	free(line);
	return rc;
}

/* gif_extension - a comment is refused; a graphics control block names the
 * next frame's transparent colour */
static int gif_extension(GifFileType *g, int *transparent, char *err, size_t errlen)
{
	GifByteType *ext = NULL;
	int code;
	if (DGifGetExtension(g, &code, &ext) == GIF_ERROR)
		return -EINVAL;
	if (code == COMMENT_EXT_FUNC_CODE) {
		snprintf(err, errlen, "GIF: a comment, which no photo needs");
		return -EINVAL;
	}
	if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4)
		*transparent = (ext[1] & 1) ? ext[4] : -1;
	while (ext)
		if (DGifGetExtensionNext(g, &ext) == GIF_ERROR)
			return -EINVAL;
	return 0;
}

static int gif_records(GifFileType *g, struct img *im, char *err, size_t errlen)
{
	int frames = 0, transparent = -1, rc = 0;
	GifRecordType rt;
	do {
		if (DGifGetRecordType(g, &rt) == GIF_ERROR)
			return -EINVAL;
		if (rt == IMAGE_DESC_RECORD_TYPE) {
			if (DGifGetImageDesc(g) == GIF_ERROR)
				return -EINVAL;
			rc = gif_frame(g, im, frames++ == 0, transparent, err, errlen);
			transparent = -1;
		} else if (rt == EXTENSION_RECORD_TYPE) {
			rc = gif_extension(g, &transparent, err, errlen);
		}
	} while (rc == 0 && rt != TERMINATE_RECORD_TYPE);
	if (rc == 0 && frames == 0) {
		snprintf(err, errlen, "GIF: no image in it");
		rc = -EINVAL;
	}
	return rc;
}

static int gif_decode(const unsigned char *in, size_t n, struct img *im, char *err, size_t errlen)
{
	struct rd r = {in, n, 0};
	int e = 0, rc = -EINVAL;
	GifFileType *g = DGifOpen(&r, gif_rd, &e);
	if (!g) {
		snprintf(err, errlen, "GIF: %s", GifErrorString(e));
		return -EINVAL;
	}
	if (!size_ok((unsigned long)g->SWidth, (unsigned long)g->SHeight, err, errlen)) {
		rc = -E2BIG;
		goto out;
	}
	im->w = (unsigned)g->SWidth;
	im->h = (unsigned)g->SHeight;
	im->px = xmalloc((size_t)im->w * im->h * 3);
	memset(im->px, 0xff, (size_t)im->w * im->h * 3);
	err[0] = 0;
	rc = gif_records(g, im, err, errlen);
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "GIF: %s", GifErrorString(g->Error));
	if (rc == 0 && !trailing_ok(in + r.pos, n - r.pos, err, errlen))
		rc = -EINVAL;
out:
	DGifCloseFile(g, &e);
	return rc;
}

/* ---- the whole ---- */

int photo_normalize(const unsigned char *in, size_t n, unsigned char **out, size_t *outlen,
		    char *err, size_t errlen)
{
	static const unsigned char jpg[] = {0xff, 0xd8, 0xff},
				   png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	struct img im = {0, 0, NULL};
	int rc;
	*out = NULL;
	*outlen = 0;
	if (n > PHOTO_MAX_INPUT) {
		snprintf(err, errlen, "%zu bytes: the decoders take at most %u", n,
			 PHOTO_MAX_INPUT);
		return -E2BIG;
	}
	if (n >= sizeof(jpg) && !memcmp(in, jpg, sizeof(jpg)))
		rc = jpeg_decode(in, n, &im, err, errlen);
	else if (n >= sizeof(png) && !memcmp(in, png, sizeof(png)))
		rc = png_decode(in, n, &im, err, errlen);
	else if (n >= 6 && (!memcmp(in, "GIF87a", 6) || !memcmp(in, "GIF89a", 6)))
		rc = gif_decode(in, n, &im, err, errlen);
	else {
		snprintf(err, errlen, "not a JPEG, PNG or GIF image");
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = jpeg_encode(&im, out, outlen, err, errlen);
	free(im.px);
	return rc;
}

static void set_field(json_t *args, const char *name, const char *suffix, json_t *v)
{
	char key[128];
	snprintf(key, sizeof(key), "%s_%s", name, suffix);
	json_object_set_new(args, key, v);
}

int photo_args_normalize(json_t *args, const char *name)
{
	char key[128], err[200];
	const char *b64 = json_string_value(json_object_get(args, name));
	snprintf(key, sizeof(key), "%s_bytes", name);
	if (!b64 || json_object_get(args, key))
		return 0;
	size_t cap = strlen(b64), n = 0, outlen = 0;
	unsigned char *bin = xmalloc(cap + 1), *jpeg = NULL;
	int rc = -EINVAL;
	snprintf(err, sizeof(err), "not base64");
	if (sodium_base642bin(bin, cap + 1, b64, cap, "\r\n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) == 0)
		rc = photo_normalize(bin, n, &jpeg, &outlen, err, sizeof(err));
	set_field(args, name, "bytes", json_integer((json_int_t)n));
	if (rc == 0) {
		size_t b64len = sodium_base64_ENCODED_LEN(outlen, sodium_base64_VARIANT_ORIGINAL);
		char *enc = xmalloc(b64len);
		sodium_bin2base64(enc, b64len, jpeg, outlen, sodium_base64_VARIANT_ORIGINAL);
		json_object_set_new(args, name, json_string(enc));
		set_field(args, name, "type", json_string("image/jpeg"));
		free(enc);
	} else {
		json_object_del(args, name);
		set_field(args, name, "error", json_string(err));
	}
	free(jpeg);
	free(bin);
	return rc == -ENOMEM ? -ENOMEM : 0;
}
