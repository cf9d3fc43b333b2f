// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the packet layer.  Input: one byte choosing the link
 * type, one byte of flags (decode_tunnels), then the frame.  The frame is
 * copied to an exact-size heap buffer so ASan sees any read past it; the
 * views decode_frame() returns must lie inside the capture.
 */
#include <stdlib.h>
#include <string.h>

#include "packet/decode.h"

static const int dlts[] = { FC_DLT_NULL, FC_DLT_EN10MB, FC_DLT_PPP, FC_DLT_RAW,
			    FC_DLT_RAW_LINKTYPE, FC_DLT_PPP_SERIAL, FC_DLT_C_HDLC,
			    FC_DLT_LINUX_SLL, FC_DLT_LINUX_SLL2, FC_DLT_IEEE802_11_RADIO,
			    FC_DLT_IPV4, FC_DLT_IPV6, 147 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt p;
	uint8_t *frame;
	size_t n;

	if (size < 2)
		return 0;
	n = size - 2;
	frame = malloc(n ? n : 1);
	if (!frame)
		return 0;
	memcpy(frame, data + 2, n);
	if (decode_frame(dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))], frame, (uint32_t)n,
			 (uint32_t)n + (data[1] >> 1), data[1] & 1, &p) == DECODE_OK) {
		if (p.ip < frame || p.ip + p.ip_caplen > frame + n)
			abort();
		if (p.payload_caplen && (p.payload < frame || p.payload + p.payload_caplen > frame + n))
			abort();
	}
	free(frame);
	return 0;
}
