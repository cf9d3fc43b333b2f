// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: a whole capture file through the real pipeline, the
 * way `flowsight -r FILE --statistical-analysis --splt-analysis 8 --ja4`
 * runs it: the file reader (our classic pcap parser, libpcap for pcapng),
 * the packet layer, the flow engine with nDPI dissection and JA4, and the
 * CSV and JSON writers (into /dev/null).  Packet times come from the input,
 * so expiry paths (idle scan, active timeout) are reached too.  Inputs of
 * odd size run in dataset mode (--dataset-mode --activity-timeout 1): the
 * TCP ends, the µs clock and every dataset column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "export/columns.h"
#include "l7/dpi.h"
#include "core/engine.h"
#include "export/export.h"
#include "util/log.h"
#include "capture/source.h"

static struct dpi *dpi;
static struct schema schema, schema_ds;

struct ctx {
	struct exporter *csv, *json;
	uint64_t id;
};

static int emit(struct flow *f, int expiration_id, void *arg)
{
	struct ctx *c = arg;
	struct flow_record r = { .flow = f, .l7 = f->dpi.res, .id = c->id++,
				 .expiration_id = expiration_id };

	exporter_write(c->csv, &r);
	exporter_write(c->json, &r);
	engine_flow_free(f);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dpi_opts d = { .n_dissections = 20, .ja4 = true };
	struct column_opts co = { .decode_tunnels = true, .statistics = true, .splt = 8,
				  .l7 = true, .ja4 = true };

	(void)argc;
	(void)argv;
	log_set_verbosity(-1);
	if (dpi_new(&d, &dpi) || schema_init(&schema, &co))
		abort();
	co.dataset = true;
	if (schema_init(&schema_ds, &co))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz-capture-XXXXXX";
	const char *files[1] = { path };
	bool dataset = size & 1;
	struct engine_opts eo = { .idle_timeout_ms = 120000, .active_timeout_ms = 1800000,
				  .flow = { .accounting_mode = 0, .statistics = true, .splt = 8,
					    .dataset = dataset, .activity_timeout_us = 1000000 },
				  .decode_tunnels = true };
	struct export_opts xo = { .path = "/dev/null", .format = EXPORT_CSV,
				  .schema = dataset ? &schema_ds : &schema };
	struct ctx c = { 0 };
	struct source *src;
	struct engine *e;
	struct frame fr[64];
	int fd = mkstemp(path), n;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	if (source_pcap_open(files, 1, NULL, &src)) {
		unlink(path);
		return 0;
	}
	if (exporter_open(&xo, &c.csv))
		abort();
	xo.format = EXPORT_JSONL;
	if (exporter_open(&xo, &c.json))
		abort();
	e = engine_new(&eo, dpi, emit, &c);
	if (!e)
		abort();
	while ((n = source_next(src, fr, 64)) > 0)
		engine_frames(e, fr, n);
	engine_flush(e);
	engine_free(e);
	exporter_close(c.csv, NULL, NULL);
	exporter_close(c.json, NULL, NULL);
	source_close(src);
	unlink(path);
	return 0;
}
