/* Error messages for the caller: every one starts with "pmp: " and says what to do. */
#ifndef PMP_ERRORS_H
#define PMP_ERRORS_H

#include <stddef.h>

/* Formats into err (when not NULL) and returns -1, for `return pmp_err(...)`. */
int pmp_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
