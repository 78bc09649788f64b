// CPU instructions Swift cannot spell: cache prefetches and the CRC32C instruction.
#ifndef CIMS_INTRINSICS_H
#define CIMS_INTRINSICS_H

#include <stddef.h>
#include <stdint.h>

/// Asks the CPU to start bringing the cache line holding `address` into its caches, to be read soon.
/// Never faults, whatever the address; returns at once.
static inline __attribute__((always_inline)) void cims_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// `cims_prefetch` for a line about to be written.
static inline __attribute__((always_inline)) void cims_prefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// 1 if this CPU has a CRC32C instruction that `cims_crc32c_update` uses, else 0.
int cims_crc32c_has_instruction(void);

/// Continues a CRC-32C over `count` bytes with the CPU's instruction (start with 0; pre- and
/// post-inversion included, as `IMSDomain.CRC32C.update`). Only call it where
/// `cims_crc32c_has_instruction()` is 1.
uint32_t cims_crc32c_update(uint32_t crc, const void *bytes, size_t count);

#endif
