// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the JA4 ClientHello parser, on a bare handshake message
 * (TCP, QUIC and DTLS flavours) and on TLS records, from an exact-size copy.
 */
#include <stdlib.h>
#include <string.h>

#include "l7/ja4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[JA4_STR_LEN], raw[4096];
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (ja4_client_hello(buf, size, 't', out) == 0 && strlen(out) != JA4_STR_LEN - 1)
		abort();
	ja4_client_hello(buf, size, 'q', out);
	ja4_client_hello(buf, size, 'd', out);
	ja4_client_hello_raw(buf, size, 't', raw, sizeof(raw));
	ja4_from_tls_records(buf, size, out);
	free(buf);
	return 0;
}
