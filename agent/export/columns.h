/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The output schema: which columns exist for a configuration and in which
 * order (NFStream's NFlow.keys(), spec §1.1), and each column's typed value
 * for a finished flow.  Writers (CSV, JSON lines) only format what this
 * module hands them, so both formats carry the same names, order and types.
 */
#ifndef FLOWSIGHT_COLUMNS_H
#define FLOWSIGHT_COLUMNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/flow.h"
#include "core/proc.h"
#include "l7/dpi.h"

enum col_kind { COL_INT, COL_FLOAT, COL_STR, COL_LIST };

/* The fields a column can read; scope/param select within a family. */
enum col_field {
	CF_ID, CF_EXPIRATION_ID, CF_SRC_IP, CF_SRC_MAC, CF_SRC_OUI, CF_SRC_PORT,
	CF_DST_IP, CF_DST_MAC, CF_DST_OUI, CF_DST_PORT, CF_PROTOCOL, CF_IP_VERSION,
	CF_VLAN_ID, CF_TUNNEL_ID,
	CF_FIRST_SEEN, CF_LAST_SEEN, CF_DURATION, CF_PACKETS, CF_BYTES,
	CF_MIN_PS, CF_MEAN_PS, CF_STDDEV_PS, CF_MAX_PS,
	CF_MIN_PIAT, CF_MEAN_PIAT, CF_STDDEV_PIAT, CF_MAX_PIAT,
	CF_FLAG,
	CF_SPLT_DIRECTION, CF_SPLT_PS, CF_SPLT_PIAT,
	CF_APP_NAME, CF_APP_CATEGORY, CF_APP_GUESSED, CF_APP_CONFIDENCE,
	CF_SERVER_NAME, CF_CLIENT_FP, CF_SERVER_FP, CF_USER_AGENT, CF_CONTENT_TYPE,
	CF_JA4,
	CF_PROC_PID, CF_PROC_NAME,
	CF_PROC_PPID, CF_PROC_UID, CF_PROC_USER, CF_PROC_EXE, CF_PROC_CMDLINE,
	CF_PROC_START, CF_CGROUP_ID, CF_CONTAINER_ID, CF_ATTRIBUTION, CF_PROC_OTHERS,
	/* dataset mode (core/dataset.h) */
	CF_FIRST_SEEN_US, CF_LAST_SEEN_US, CF_DURATION_US,
	CF_MIN_PIAT_US, CF_MEAN_PIAT_US, CF_STDDEV_PIAT_US, CF_MAX_PIAT_US,
	CF_SPLT_PIAT_US,
	CF_BYTES_PER_S, CF_PACKETS_PER_S,
	CF_ACTIVE_MIN, CF_ACTIVE_MEAN, CF_ACTIVE_STDDEV, CF_ACTIVE_MAX,
	CF_IDLE_MIN, CF_IDLE_MEAN, CF_IDLE_STDDEV, CF_IDLE_MAX,
	CF_SUBFLOWS,
	CF_BULK_COUNT, CF_BULK_PACKETS, CF_BULK_BYTES, CF_BULK_DURATION,
	CF_HEADER_BYTES, CF_INIT_WINDOW,
	CF_UDP, /* a plugin's value: flow->udps->v[udp] */
};

struct column {
	char name[40];
	enum col_field field;
	enum col_kind kind;
	uint8_t scope; /* FLOW_SCOPE_* for per-scope families */
	uint8_t param; /* flag index for CF_FLAG */
	uint16_t len;  /* list length for the SPLT columns */
	/* COL_INT, COL_FLOAT, COL_STR: where col_row_get() puts the value, in
	 * i[], f[] or s[]; the address and SPLT columns have none */
	uint16_t slot;
	uint16_t udp; /* CF_UDP: index in flow->udps */
};

struct column_opts {
	bool decode_tunnels;
	bool statistics;
	uint16_t splt;
	bool l7;              /* n_dissections > 0 */
	bool ja4;             /* --ja4: client_fingerprint_ja4 after the L7 block */
	bool dataset;         /* --dataset-mode: its block after NFStream's columns */
	int system_visibility; /* 0 none, 1 NFStream's two columns, 2 also ours */
};

struct schema {
	struct column *cols;
	size_t n, cap;
	uint16_t splt;
};

/*
 * The column registry: each group of columns registers itself with
 * schema_add(), the built-in ones in NFStream's order (schema_init()),
 * then the plugins' udps.* columns.
 */
int schema_add(struct schema *s, const char *name, enum col_field f, enum col_kind k,
	       uint8_t scope, uint8_t param);
/* A plugin's column @name (without "udps."), value @udp of each flow. */
int schema_add_udp(struct schema *s, const char *name, enum col_kind k, uint16_t udp);

/* Build the built-in columns for @o.  0 or -ENOMEM. */
int schema_init(struct schema *s, const struct column_opts *o);
void schema_release(struct schema *s);
/* Index of column @name, or -1. */
int schema_find(const struct schema *s, const char *name);

/* What a writer needs to render one finished flow. */
struct flow_record {
	const struct flow *flow;
	const struct dpi_result *l7; /* NULL when L7 is off */
	uint64_t id;
	int expiration_id;
	const struct proc_info *proc; /* NULL: no process known (-1, "") */
};

/* A column's value.  Strings point into the record or into @buf. */
struct col_value {
	enum col_kind kind;
	bool is_null; /* CF_UDP never set: NFStream's None */
	int64_t i;
	double f;
	const char *s;
	/* COL_LIST: n int64 values */
	const int64_t *list;
	size_t n;
};

/*
 * Every scalar value of a row at once, for writers that format whole rows
 * (col_get() reads its scalars from here too, so the two cannot differ):
 * column c's value is i[c->slot], f[c->slot] or s[c->slot] by c->kind.
 */
#define COL_ROW_INTS 105
#define COL_ROW_FLOATS 28
#define COL_ROW_STRS 14

struct col_row {
	int64_t i[COL_ROW_INTS];
	double f[COL_ROW_FLOATS];
	const char *s[COL_ROW_STRS];
};

void col_row_get(const struct flow_record *r, struct col_row *row);

/*
 * Text of address column @c (CF_SRC_IP, CF_DST_IP, CF_SRC_MAC, CF_DST_MAC,
 * CF_SRC_OUI, CF_DST_OUI) of @f at @out, which has room for
 * COL_ADDR_TEXT_MAX bytes (the bytes after the text may be written too).
 * Returns the text's length.
 */
#define COL_ADDR_TEXT_MAX 46
size_t col_addr_text(const struct column *c, const struct flow *f, char *out);

/* Whether column @c is one of those col_addr_text() writes. */
static inline bool col_is_addr(const struct column *c)
{
	return c->field == CF_SRC_IP || c->field == CF_DST_IP || c->field == CF_SRC_MAC ||
	       c->field == CF_DST_MAC || c->field == CF_SRC_OUI || c->field == CF_DST_OUI;
}

/* Scratch space that col_get() may use for strings and list conversion. */
struct col_scratch {
	char text[64];
	int64_t list[];
};

/* A plugin's value @u (NULL: none) as a column value; never set: None,
 * read as 0, 0.0, "" or []. */
void col_udp_value(const struct udp_value *u, struct col_value *v);

/*
 * Value of column @c for @r.  @scratch must have room for the schema's SPLT
 * length in list[] (see col_scratch_new).
 */
void col_get(const struct column *c, const struct flow_record *r, struct col_value *v,
	     struct col_scratch *scratch);
struct col_scratch *col_scratch_new(const struct schema *s);

/*
 * Python's repr() of a double (shortest round-trip digits, "1e-05",
 * "310.57142857142856", "0.0"): the text NFStream writes for floats.
 * Returns the length written into @buf (at least 32 bytes).
 */
int fmt_py_float(double d, char *buf);
/* The layout step of fmt_py_float(), shared with fmt_py_float_fast(). */
int py_float_layout(char *buf, int pos, const char *digits, int nd, int exp10);

/* Decimal text of @v at @buf (at least 20 bytes, no NUL); returns its length. */
int fmt_int(char *buf, int64_t v);

#endif
