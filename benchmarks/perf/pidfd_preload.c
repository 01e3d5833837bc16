/* LD_PRELOAD shim for profiling a controller under valgrind (which fails pidfd_open with
 * ENOSYS, so libpmp could start no worker): tests/unit/pidfd_shim.c's emulation, with
 * syscall() interposed instead of linked with --wrap. Built by callgrind.sh. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>

long __real_syscall(long number, ...);
long __real_syscall(long number, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;
	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

#define __wrap_syscall syscall
#include "../../tests/unit/pidfd_shim.c"
