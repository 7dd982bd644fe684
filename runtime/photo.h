/*
 * photo - an id photo made safe to keep and to show.  It is decoded whole
 * by the real decoders (libjpeg-turbo, libpng, giflib), its size in pixels
 * checked before a pixel is decoded (no decompression bombs); refused when
 * anything follows the image (polyglots: JPEG+ZIP, PNG+HTML), when a GIF
 * carries a comment, or when the decoder finds it damaged; and re-encoded
 * from its pixels as a JPEG, so that no metadata (EXIF and its GPS
 * position) and no foreign bytes survive.  Thread-safe: the engine runs it
 * on its hash threads, off the loop.
 */
#ifndef REGFLOW_PHOTO_H
#define REGFLOW_PHOTO_H

#include <jansson.h>
#include <stddef.h>

#define PHOTO_MAX_SIDE 8192u	     /* pixels, either way */
#define PHOTO_MAX_PIXELS (16u << 20) /* width x height */
#define PHOTO_MAX_INPUT (8u << 20)   /* bytes the decoders are given at most */
#define PHOTO_JPEG_QUALITY 90
#define PHOTO_MAX_SCANS 64 /* a progressive JPEG's scans (an encoder's: about 10) */

/*
 * photo_normalize - in (n bytes, JPEG, PNG or GIF) as a new JPEG in *out
 * (*outlen bytes, malloc'd).  0, or -EINVAL (damaged, not an image, a
 * polyglot), -E2BIG (too many pixels) or -ENOMEM with err saying why.
 */
int photo_normalize(const unsigned char *in, size_t n, unsigned char **out, size_t *outlen,
		    char *err, size_t errlen);

/*
 * photo_args_normalize - the job argument name (base64) normalized in
 * place: name becomes the new JPEG's base64, name_type "image/jpeg" and
 * name_bytes the size decoded from the caller's base64; on refusal
 * name_error says why and name is dropped.  Nothing to do when name is
 * absent or name_bytes is set already.  -ENOMEM only.
 */
int photo_args_normalize(json_t *args, const char *name);

#endif
