/* The --pmp-* options: their table, and parsing of one value at a time.
 * Pure code: no SPANK calls, so the unit tests drive it directly. */
#ifndef PMP_OPTIONS_H
#define PMP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define PMP_MSG_MAX 512      /* one user-facing message, "pmp: " excluded */
#define PMP_ENDPOINT_MAX 256 /* ZeroMQ endpoint, NUL included */

enum pmp_opt {
	PMP_OPT_WORKERS,
	PMP_OPT_CORES_PER_WORKER,
	PMP_OPT_THREADS_PER_CORE,
	PMP_OPT_GPUS_PER_WORKER,
	PMP_OPT_OVERSUBSCRIBE,
	PMP_OPT_STATIC,
	PMP_OPT_ENDPOINT,  /* internal: set by the runtime on worker steps */
	PMP_OPT_WORKER_ID, /* internal: set by the runtime on worker steps */
	PMP_OPT_COUNT
};

enum pmp_arg_kind { PMP_ARG_INT, PMP_ARG_FLAG, PMP_ARG_ENDPOINT };

struct pmp_opt_info {
	const char *name;    /* without the leading "--" */
	const char *arginfo; /* NULL for flags */
	const char *usage;   /* srun --help text */
	enum pmp_arg_kind kind;
	long min;            /* smallest accepted value (PMP_ARG_INT) */
	long max;            /* largest accepted value unless plugstack.conf lowers it */
	bool site_config;    /* plugstack.conf may set default_<name> and max_<name> */
	const char *env;     /* PMP_* variable that carries the value to tasks */
};

extern const struct pmp_opt_info pmp_opt_table[PMP_OPT_COUNT];

struct pmp_config; /* config.h */

struct pmp_opts {
	unsigned given;                 /* bit (1u << opt) for each option the user set */
	long value[PMP_OPT_COUNT];      /* integer values; flags are 0 or 1 */
	char endpoint[PMP_ENDPOINT_MAX];
};

void pmp_opts_init(struct pmp_opts *o);
bool pmp_opts_given(const struct pmp_opts *o, enum pmp_opt id);
/* True when the user set any --pmp-* option: only then is a step a pmp step. */
bool pmp_opts_any(const struct pmp_opts *o);

/* Parse and store one option value. Idempotent: SPANK may call it twice.
 * On bad input returns -1 and writes a message (no "pmp: " prefix) to err. */
int pmp_opts_set(struct pmp_opts *o, const struct pmp_config *cfg, enum pmp_opt id,
		 const char *arg, char *err, size_t errlen);

/* The value in effect: the user's, else the site default from plugstack.conf. */
long pmp_opts_value(const struct pmp_opts *o, const struct pmp_config *cfg, enum pmp_opt id);

/* Checks across options (e.g. a worker id needs an endpoint). 0, or -1 with err. */
int pmp_opts_check(const struct pmp_opts *o, char *err, size_t errlen);

/* Strict decimal parse of a whole number in [min, max]: no sign, no spaces,
 * no trailing text. Returns 0, -1 when not a number, -2 when out of range. */
int pmp_parse_long(const char *s, long min, long max, long *out);

/* Accepts tcp://HOST:PORT and ipc:///absolute/path. 0 or -1. */
int pmp_endpoint_valid(const char *s);

#endif
