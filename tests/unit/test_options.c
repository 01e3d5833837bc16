/* The --pmp-* option table, value parsing, messages and cross-option checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "options.h"
#include "plugin.h"

static void test_parse_long_accepts_plain_decimal(void **st)
{
	(void)st;
	long v = -1;
	assert_int_equal(pmp_parse_long("4", 1, 10, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(pmp_parse_long("0010", 1, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(pmp_parse_long("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
}

static void test_parse_long_rejects_non_numbers(void **st)
{
	(void)st;
	const char *bad[] = {"", "abc", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.5", "1e3", NULL};
	long v = 77;
	for (int i = 0; bad[i]; i++)
		assert_int_equal(pmp_parse_long(bad[i], 0, 100, &v), -1);
	assert_int_equal(pmp_parse_long(NULL, 0, 100, &v), -1);
	assert_int_equal(v, 77);
}

static void test_parse_long_range(void **st)
{
	(void)st;
	long v = 77;
	assert_int_equal(pmp_parse_long("0", 1, 10, &v), -2);
	assert_int_equal(pmp_parse_long("11", 1, 10, &v), -2);
	assert_int_equal(pmp_parse_long("99999999999999999999999", 1, 10, &v), -2);
	assert_int_equal(v, 77);
}

static void test_endpoint_validation(void **st)
{
	(void)st;
	assert_int_equal(pmp_endpoint_valid("tcp://node1:5555"), 0);
	assert_int_equal(pmp_endpoint_valid("tcp://10.1.2.3:1"), 0);
	assert_int_equal(pmp_endpoint_valid("tcp://[::1]:65535"), 0);
	assert_int_equal(pmp_endpoint_valid("ipc:///tmp/pmp-0/ctl"), 0);
	const char *bad[] = {"", "node1:5555", "tcp://node1", "tcp://:5555", "tcp://node1:0",
			     "tcp://node1:65536", "tcp://no de:1", "ipc://", "ipc://rel", "inproc://x",
			     "tcp://a;rm -rf:1", NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(pmp_endpoint_valid(bad[i]), -1);
	char longer[PMP_ENDPOINT_MAX + 8] = "ipc:///";
	memset(longer + 7, 'a', PMP_ENDPOINT_MAX);
	longer[PMP_ENDPOINT_MAX + 7] = '\0';
	assert_int_equal(pmp_endpoint_valid(longer), -1);
}

static void test_set_int_option(void **st)
{
	(void)st;
	struct pmp_opts o;
	char err[PMP_MSG_MAX] = "";
	pmp_opts_init(&o);
	assert_false(pmp_opts_any(&o));
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_WORKERS, "4", err, sizeof(err)), 0);
	assert_true(pmp_opts_given(&o, PMP_OPT_WORKERS));
	assert_true(pmp_opts_any(&o));
	assert_int_equal(pmp_opts_value(&o, NULL, PMP_OPT_WORKERS), 4);
	/* SPANK may call an option's callback twice: the same value again is fine */
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_WORKERS, "4", err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void test_out_of_range_message_names_option_value_and_range(void **st)
{
	(void)st;
	struct pmp_opts o;
	char err[PMP_MSG_MAX];
	pmp_opts_init(&o);
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_WORKERS, "0", err, sizeof(err)), -1);
	assert_string_equal(err, "--pmp-workers=0 is out of range: give a number from 1 to 65536");
	assert_false(pmp_opts_given(&o, PMP_OPT_WORKERS));
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_THREADS_PER_CORE, "1025", err, sizeof(err)), -1);
	assert_string_equal(err, "--pmp-threads-per-core=1025 is out of range: give a number from 1 to 1024");
}

static void test_not_a_number_message(void **st)
{
	(void)st;
	struct pmp_opts o;
	char err[PMP_MSG_MAX];
	pmp_opts_init(&o);
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_CORES_PER_WORKER, "two", err, sizeof(err)), -1);
	assert_string_equal(err, "--pmp-cores-per-worker=two is not a whole number: give one from 1 to 65536, "
				 "e.g. --pmp-cores-per-worker=1");
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_GPUS_PER_WORKER, "-1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--pmp-gpus-per-worker=-1 is not a whole number: give one from 0 to 1024"));
}

static void test_site_maximum_lowers_range(void **st)
{
	(void)st;
	struct pmp_config cfg;
	struct pmp_opts o;
	char err[PMP_MSG_MAX];
	char *args[] = {"max_workers=8"};
	pmp_config_init(&cfg);
	assert_int_equal(pmp_config_parse(&cfg, 1, args, err, sizeof(err)), 0);
	pmp_opts_init(&o);
	assert_int_equal(pmp_opts_set(&o, &cfg, PMP_OPT_WORKERS, "8", err, sizeof(err)), 0);
	assert_int_equal(pmp_opts_set(&o, &cfg, PMP_OPT_WORKERS, "9", err, sizeof(err)), -1);
	assert_string_equal(err, "--pmp-workers=9 is out of range: give a number from 1 to 8 "
				 "(the site's maximum, from plugstack.conf)");
}

static void test_flags_and_endpoint(void **st)
{
	(void)st;
	struct pmp_opts o;
	char err[PMP_MSG_MAX];
	pmp_opts_init(&o);
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_OVERSUBSCRIBE, NULL, err, sizeof(err)), 0);
	assert_int_equal(pmp_opts_value(&o, NULL, PMP_OPT_OVERSUBSCRIBE), 1);
	assert_int_equal(pmp_opts_value(&o, NULL, PMP_OPT_STATIC), 0);
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_ENDPOINT, "tcp://node1:7000", err, sizeof(err)), 0);
	assert_string_equal(o.endpoint, "tcp://node1:7000");
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_ENDPOINT, "node1", err, sizeof(err)), -1);
	assert_string_equal(err, "--pmp-endpoint=node1 is not a ZeroMQ endpoint: it is set by the pmp "
				 "runtime; give tcp://HOST:PORT or ipc:///PATH");
	assert_string_equal(o.endpoint, "tcp://node1:7000");
}

static void test_unknown_option_id(void **st)
{
	(void)st;
	struct pmp_opts o;
	char err[PMP_MSG_MAX];
	pmp_opts_init(&o);
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_COUNT, "1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown option id"));
	assert_false(pmp_opts_any(&o));
}

static void test_defaults(void **st)
{
	(void)st;
	struct pmp_opts o;
	struct pmp_config cfg;
	char err[PMP_MSG_MAX];
	char *args[] = {"default_threads_per_core=2", "default_workers=3"};
	pmp_opts_init(&o);
	assert_int_equal(pmp_opts_value(&o, NULL, PMP_OPT_WORKERS), -1);
	assert_int_equal(pmp_opts_value(&o, NULL, PMP_OPT_CORES_PER_WORKER), 1);
	assert_int_equal(pmp_opts_value(&o, NULL, PMP_OPT_THREADS_PER_CORE), 1);
	assert_int_equal(pmp_opts_value(&o, NULL, PMP_OPT_GPUS_PER_WORKER), 0);
	pmp_config_init(&cfg);
	assert_int_equal(pmp_config_parse(&cfg, 2, args, err, sizeof(err)), 0);
	assert_int_equal(pmp_opts_value(&o, &cfg, PMP_OPT_THREADS_PER_CORE), 2);
	assert_int_equal(pmp_opts_value(&o, &cfg, PMP_OPT_WORKERS), 3);
	assert_int_equal(pmp_opts_set(&o, &cfg, PMP_OPT_THREADS_PER_CORE, "4", err, sizeof(err)), 0);
	assert_int_equal(pmp_opts_value(&o, &cfg, PMP_OPT_THREADS_PER_CORE), 4);
}

static void test_cross_checks(void **st)
{
	(void)st;
	struct pmp_opts o;
	char err[PMP_MSG_MAX];
	pmp_opts_init(&o);
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_WORKER_ID, "3", err, sizeof(err)), 0);
	assert_int_equal(pmp_opts_check(&o, err, sizeof(err)), -1);
	assert_string_equal(err, "--pmp-worker-id=3 needs --pmp-endpoint: both are set by the pmp runtime "
				 "for its worker steps; remove --pmp-worker-id");
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_ENDPOINT, "tcp://h:1", err, sizeof(err)), 0);
	assert_int_equal(pmp_opts_check(&o, err, sizeof(err)), 0);
	assert_int_equal(pmp_opts_set(&o, NULL, PMP_OPT_STATIC, NULL, err, sizeof(err)), 0);
	assert_int_equal(pmp_opts_check(&o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--pmp-static cannot be combined with --pmp-endpoint=tcp://h:1"));
}

static void test_roles(void **st)
{
	(void)st;
	struct pmp_opts o;
	char err[PMP_MSG_MAX];
	pmp_opts_init(&o);
	assert_int_equal(pmp_role_of(&o), PMP_ROLE_NONE);
	pmp_opts_set(&o, NULL, PMP_OPT_THREADS_PER_CORE, "2", err, sizeof(err));
	assert_int_equal(pmp_role_of(&o), PMP_ROLE_TASKS);
	pmp_opts_set(&o, NULL, PMP_OPT_WORKERS, "2", err, sizeof(err));
	assert_int_equal(pmp_role_of(&o), PMP_ROLE_CONTROLLER);
	pmp_opts_set(&o, NULL, PMP_OPT_STATIC, NULL, err, sizeof(err));
	assert_int_equal(pmp_role_of(&o), PMP_ROLE_STATIC);
	pmp_opts_set(&o, NULL, PMP_OPT_ENDPOINT, "ipc:///x", err, sizeof(err));
	assert_int_equal(pmp_role_of(&o), PMP_ROLE_WORKER);
	assert_string_equal(pmp_role_name(PMP_ROLE_WORKER), "worker");
	assert_string_equal(pmp_role_name(PMP_ROLE_NONE), "none");
}

struct collected {
	char text[1024];
	int stop_after; /* fail the callback at this call, 0: never */
	int calls;
};

static int collect_var(const char *name, const char *value, void *arg)
{
	struct collected *c = arg;
	if (++c->calls == c->stop_after)
		return -1;
	size_t used = strlen(c->text);
	snprintf(c->text + used, sizeof(c->text) - used, "%s=%s;", name, value);
	return 0;
}

static void test_option_vars(void **st)
{
	(void)st;
	struct pmp_state s;
	struct collected c = {"", 0, 0};
	char err[PMP_MSG_MAX];
	memset(&s, 0, sizeof(s));
	pmp_config_init(&s.cfg);
	pmp_opts_init(&s.opts);
	pmp_opts_set(&s.opts, &s.cfg, PMP_OPT_THREADS_PER_CORE, "2", err, sizeof(err));
	assert_int_equal(pmp_each_option_var(&s, collect_var, &c), 0);
	assert_string_equal(c.text, "PMP_CORES_PER_WORKER=1;PMP_THREADS_PER_CORE=2;PMP_GPUS_PER_WORKER=0;"
				    "PMP_OVERSUBSCRIBE=0;");
	pmp_opts_set(&s.opts, &s.cfg, PMP_OPT_WORKERS, "4", err, sizeof(err));
	pmp_opts_set(&s.opts, &s.cfg, PMP_OPT_STATIC, NULL, err, sizeof(err));
	pmp_opts_set(&s.opts, &s.cfg, PMP_OPT_ENDPOINT, "tcp://n:9", err, sizeof(err));
	pmp_opts_set(&s.opts, &s.cfg, PMP_OPT_WORKER_ID, "0", err, sizeof(err));
	c.text[0] = '\0';
	assert_int_equal(pmp_each_option_var(&s, collect_var, &c), 0);
	assert_string_equal(c.text, "PMP_WORKERS=4;PMP_CORES_PER_WORKER=1;PMP_THREADS_PER_CORE=2;"
				    "PMP_GPUS_PER_WORKER=0;PMP_OVERSUBSCRIBE=0;PMP_STATIC=1;"
				    "PMP_ENDPOINT=tcp://n:9;PMP_WORKER_ID=0;");
	struct collected failing = {"", 2, 0};
	assert_int_equal(pmp_each_option_var(&s, collect_var, &failing), -1);
	assert_int_equal(failing.calls, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_long_accepts_plain_decimal),
		cmocka_unit_test(test_parse_long_rejects_non_numbers),
		cmocka_unit_test(test_parse_long_range),
		cmocka_unit_test(test_endpoint_validation),
		cmocka_unit_test(test_set_int_option),
		cmocka_unit_test(test_out_of_range_message_names_option_value_and_range),
		cmocka_unit_test(test_not_a_number_message),
		cmocka_unit_test(test_site_maximum_lowers_range),
		cmocka_unit_test(test_flags_and_endpoint),
		cmocka_unit_test(test_unknown_option_id),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_cross_checks),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_option_vars),
	};
	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
