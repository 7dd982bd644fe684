/*
 * fuzz_photo - photo_normalize on arbitrary bytes (libFuzzer; make fuzz):
 * the JPEG, PNG and GIF decoders behind it see what an attacker uploads.
 *
 * Invariants: no crash, no leak, no read past the input; a success is a
 * JPEG (FF D8 FF ... FF D9) that photo_normalize takes again, unchanged in
 * kind (re-encoding our own output never fails).
 */
#include "fuzz.h"
#include "photo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *out = NULL, *again = NULL;
	size_t n = 0, m = 0;
	char err[200];
	if (photo_normalize(data, size, &out, &n, err, sizeof(err)) == 0) {
		CHECK(n >= 4 && !memcmp(out, "\xff\xd8\xff", 3) && out[n - 2] == 0xff &&
		      out[n - 1] == 0xd9);
		CHECK(photo_normalize(out, n, &again, &m, err, sizeof(err)) == 0);
	}
	free(out);
	free(again);
	return 0;
}
