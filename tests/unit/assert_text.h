/* Assertions on strings (error messages, variables) shared by the CMocka suites.
 * Include after <cmocka.h>. */
#ifndef PMP_ASSERT_TEXT_H
#define PMP_ASSERT_TEXT_H

#include <string.h>

static inline void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

static inline void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("\"%s\" does not contain \"%s\"", s, part);
}

#endif
