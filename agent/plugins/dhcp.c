// SPDX-License-Identifier: GPL-2.0-only
/*
 * NFStream's DHCP plugin (nfstream/plugins/dhcp.py) in C.  Every packet of
 * a flow whose dst_port is 67 is read as dpkt reads it (IP header, UDP,
 * the 240-byte BOOTP header and its options) and gives, in NFStream's
 * column order:
 *   dhcp_12        option 12, the host name (UTF-8, bad bytes replaced)
 *   dhcp_50        option 50 of a REQUEST, the requested address
 *   dhcp_55        option 55 of a REQUEST, the parameter list "1,3,6,42"
 *   dhcp_57        option 57, the maximum message size
 *   dhcp_60        option 60, the vendor class
 *   dhcp_77        option 77, the user class
 *   dhcp_options   the option codes of a REQUEST, in order ([] before one)
 *   dhcp_addr      ciaddr of a REQUEST when it is not 0.0.0.0
 *   dhcp_msg_type  the first message type seen, as Python writes the enum:
 *                  "MsgType.DISCOVER" ... "MsgType.INFORM" ("0": none)
 *   dhcp_oui       the first three bytes of a REQUEST's chaddr, "00:0b:82"
 * all None until set but dhcp_options.  The flow is expired (expiration_id
 * -1) after an ACK, NACK, INFORM or DECLINE, or on any DHCP packet when
 * its src_ip is 0.0.0.0, which splits DHCP transactions.
 *
 * A packet dpkt cannot unpack is ignored, as NFStream ignores UnpackError;
 * so is one on which NFStream itself would fail (a message type outside
 * 1..8, option 60 or 77 not UTF-8, option 50 wider than 128 bits, a
 * REQUEST whose hardware length is not 6, an option code as the last
 * byte).  Differences that a C string imposes: a host name holding a NUL
 * byte ends there; option 57 wider than 63 bits is not kept; a packet
 * without option 53 gives the text "0" where NFStream has the number 0.
 *
 *   --plugin build/plugins/dhcp.so
 */
#include <stdbool.h>

#include "nfplugin.h"

enum { C12, C50, C55, C57, C60, C77, COPTS, CADDR, CTYPE, COUI, NCOLS };

enum { DISCOVER = 1, OFFER, REQUEST, DECLINE, ACK, NACK, RELEASE, INFORM };

static const char *const msg_name[] = {
	"0", "MsgType.DISCOVER", "MsgType.OFFER", "MsgType.REQUEST", "MsgType.DECLINE",
	"MsgType.ACK", "MsgType.NACK", "MsgType.RELEASE", "MsgType.INFORM",
};

/* Private bytes of each flow. */
struct dhcp_flow {
	bool watch;    /* its dst_port is 67 */
	bool zero_src; /* its src_ip is 0.0.0.0 */
	bool typed;    /* dhcp_msg_type is set */
};

#define BOOTP_LEN 240 /* dpkt's DHCP header: BOOTP's 236 bytes and the magic cookie */

static int dhcp_init(const char *config, void **state, char *err, size_t n)
{
	(void)state;
	return nfp_parse("DHCP", config, NULL, 0, err, n);
}

/* int.from_bytes(b, "big") in 128 bits; -1 when wider. */
static int big_int(const uint8_t *b, size_t n, unsigned __int128 *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (*v >> 120)
			return -1;
		*v = *v << 8 | b[i];
	}
	return 0;
}

/* str(ipaddress.ip_address(v)): IPv4 below 2^32, else IPv6 as Python compresses it. */
static void ip_text(unsigned __int128 v, char *out, size_t n)
{
	unsigned int h[8];
	int best = -1, best_len = 0, run = 0;
	size_t o = 0;

	if (!(v >> 32)) {
		snprintf(out, n, "%u.%u.%u.%u", (unsigned int)(v >> 24) & 255,
			 (unsigned int)(v >> 16) & 255, (unsigned int)(v >> 8) & 255,
			 (unsigned int)v & 255);
		return;
	}
	for (int i = 0; i < 8; i++)
		h[i] = (unsigned int)(v >> (16 * (7 - i))) & 0xffff;
	for (int i = 0; i < 8; i++) {
		run = h[i] ? 0 : run + 1;
		if (run > best_len) {
			best_len = run;
			best = i - run + 1;
		}
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			o += (size_t)snprintf(out + o, n - o, "::");
			i += best_len - 1;
			continue;
		}
		o += (size_t)snprintf(out + o, n - o, "%s%x", o && out[o - 1] != ':' ? ":" : "",
				      h[i]);
	}
}

/* Walks the options after the header; false where dpkt or NFStream would raise. */
struct opt_walk {
	const uint8_t *p;
	size_t left;
};

static bool next_opt(struct opt_walk *w, uint8_t *code, const uint8_t **v, size_t *len,
		     bool *bad)
{
	while (w->left) {
		uint8_t t = w->p[0];
		size_t skip;

		if (t == 0xff)
			return false;
		if (t == 0) {
			w->p++;
			w->left--;
			continue;
		}
		if (w->left < 2) { /* the code is the last byte: dpkt's IndexError */
			*bad = true;
			return false;
		}
		*code = t;
		*v = w->p + 2;
		*len = w->p[1] <= w->left - 2 ? w->p[1] : w->left - 2;
		skip = 2 + (size_t)w->p[1];
		if (skip > w->left)
			skip = w->left;
		w->p += skip;
		w->left -= skip;
		return true;
	}
	return false;
}

static void dhcp_update(const struct fs_packet *p, struct fs_flow *f, struct dhcp_flow *st)
{
	const uint8_t *d, *v, *opt55 = NULL;
	size_t n, len, n55 = 0, n_opts = 0;
	unsigned __int128 big, opt50 = 0;
	bool bad = false, has50 = false, has55 = false;
	int64_t codes_stack[64], *codes = codes_stack;
	struct opt_walk w;
	unsigned int msg = 0;
	uint8_t code;

	if (!st->watch || nfp_l4_payload(p->ip_packet, p->ip_packet_len, &d, &n) ||
	    n < BOOTP_LEN)
		return;
	/* First pass: everything that would make NFStream raise, and the count. */
	w = (struct opt_walk){ d + BOOTP_LEN, n - BOOTP_LEN };
	while (next_opt(&w, &code, &v, &len, &bad)) {
		n_opts++;
		if (code == 53) {
			if (big_int(v, len, &big) || big < DISCOVER || big > INFORM)
				return; /* MsgType(x): ValueError */
			msg = (unsigned int)big;
		} else if ((code == 60 || code == 77) && !nfp_utf8_valid(v, len)) {
			return; /* .decode('utf-8'): UnicodeDecodeError */
		} else if (code == 50 && big_int(v, len, &big)) {
			return; /* ip_address(int): ValueError */
		}
	}
	if (bad || (msg == REQUEST && d[2] != 6)) /* struct.unpack('BBBBBB', chaddr[:hln]) */
		return;
	if (n_opts > 64 && msg == REQUEST) {
		codes = malloc(n_opts * sizeof(*codes));
		if (!codes)
			return;
	}
	/* Second pass: NFStream's _process_options(). */
	n_opts = 0;
	w = (struct opt_walk){ d + BOOTP_LEN, n - BOOTP_LEN };
	while (next_opt(&w, &code, &v, &len, &bad)) {
		char text[3 * 255 + 1];
		unsigned __int128 x;

		switch (code) {
		case 12:
			if (len) {
				nfp_utf8_replace(v, len, text);
				fs_flow_set_str(f, C12, text);
			}
			break;
		case 60:
		case 77:
			memcpy(text, v, len);
			text[len] = '\0';
			fs_flow_set_str(f, code == 60 ? C60 : C77, text);
			break;
		case 57:
			if (!big_int(v, len, &x) && !(x >> 63))
				fs_flow_set_int(f, C57, (int64_t)x);
			break;
		case 55:
			has55 = true;
			opt55 = v;
			n55 = len;
			break;
		case 50:
			has50 = true;
			big_int(v, len, &opt50);
			break;
		}
		if (msg == REQUEST)
			codes[n_opts] = code;
		n_opts++;
	}
	if (msg == REQUEST) {
		char text[4 * 255 + 1];
		const uint8_t *mac = d + 28, *ci = d + 12;
		size_t o = 0;

		snprintf(text, sizeof(text), "%02x:%02x:%02x", mac[0], mac[1], mac[2]);
		fs_flow_set_str(f, COUI, text);
		fs_flow_set_list(f, COPTS, codes, n_opts);
		if (has55) {
			text[0] = '\0';
			for (size_t i = 0; i < n55; i++)
				o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%u", i ? "," : "",
						      opt55[i]);
			fs_flow_set_str(f, C55, text);
		} else {
			fs_flow_set_none(f, C55);
		}
		if (has50) {
			ip_text(opt50, text, sizeof(text));
			fs_flow_set_str(f, C50, text);
		} else {
			fs_flow_set_none(f, C50);
		}
		if (ci[0] | ci[1] | ci[2] | ci[3]) {
			snprintf(text, sizeof(text), "%u.%u.%u.%u", ci[0], ci[1], ci[2], ci[3]);
			fs_flow_set_str(f, CADDR, text);
		}
	}
	if (codes != codes_stack)
		free(codes);
	if (msg == ACK || msg == NACK || msg == INFORM || msg == DECLINE || st->zero_src)
		fs_flow_expire(f);
	if (!st->typed) {
		st->typed = true;
		fs_flow_set_str(f, CTYPE, msg_name[msg]);
	}
}

static void dhcp_on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	struct dhcp_flow *st = fs_flow_state(f);

	(void)state;
	/* the first packet gives the flow its dst_port and src_ip */
	st->watch = p->dst_port == 67;
	st->zero_src = p->ip_version == 4 && !(p->src_ip[0] | p->src_ip[1] | p->src_ip[2] |
						p->src_ip[3]);
	fs_flow_set_list(f, COPTS, NULL, 0);
	dhcp_update(p, f, st);
}

static void dhcp_on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)state;
	dhcp_update(p, f, fs_flow_state(f));
}

static const struct fs_plugin_column columns[NCOLS] = {
	[C12] = { "dhcp_12", FS_STR },
	[C50] = { "dhcp_50", FS_STR },
	[C55] = { "dhcp_55", FS_STR },
	[C57] = { "dhcp_57", FS_INT },
	[C60] = { "dhcp_60", FS_STR },
	[C77] = { "dhcp_77", FS_STR },
	[COPTS] = { "dhcp_options", FS_LIST },
	[CADDR] = { "dhcp_addr", FS_STR },
	[CTYPE] = { "dhcp_msg_type", FS_STR },
	[COUI] = { "dhcp_oui", FS_STR },
};

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.name = "DHCP",
	.columns = columns,
	.n_columns = NCOLS,
	.flow_state_bytes = sizeof(struct dhcp_flow),
	.init = dhcp_init,
	.on_init = dhcp_on_init,
	.on_update = dhcp_on_update,
};
