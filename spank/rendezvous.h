/* How the tasks of a static step (srun -n N --pmp-static python script.py) find task 0
 * without MPI: srun, once per step, draws a secret token and a port and looks up the
 * address of the step's first node, where task 0 runs; its environment carries them to
 * every task over Slurm's authenticated launch (PMP_ENDPOINT, PMP_SECRET). Task 0 listens
 * on that port, the others connect to it. Pure code, unit-tested and fuzzed. */
#ifndef PMP_RENDEZVOUS_H
#define PMP_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>

#define PMP_TOKEN_RAW 32                   /* random bytes in a token */
#define PMP_TOKEN_LEN (6 + 40 + 1)         /* "token:", 40 Z85 characters, NUL */
#define PMP_ENDPOINT_LEN 320               /* tcp://[address]:port, NUL */

/* "token:" and the Z85 encoding of raw, the format libpmp's controller accepts. */
void pmp_token_format(const uint8_t raw[PMP_TOKEN_RAW], char out[PMP_TOKEN_LEN]);

/* A port in [lo, hi] from a random number. */
int pmp_port_pick(uint32_t random, int lo, int hi);

/* "tcp://ADDR:PORT" ("tcp://[ADDR]:PORT" for an IPv6 address). 0, or -1 when it does
 * not fit or addr is empty. */
int pmp_endpoint_format(const char *addr, int port, char *out, size_t len);

#endif
