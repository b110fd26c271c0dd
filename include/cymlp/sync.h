/* Atomic operations on 64-bit counters, a CPU spin hint and a thread yield: what the
 * worker pool (_pool.pyx) needs to hand out chunks of work without locks.
 *
 * Every operation is sequentially consistent (a full barrier): the pool's sleep/wake
 * handshake (store one flag, then load the other) needs that, and the cost is
 * nothing next to a chunk of BLAS work.  gcc and clang use the __atomic builtins;
 * MSVC its _Interlocked intrinsics (64-bit targets only, which is all we build).
 */
#ifndef CYMLP_SYNC_H
#define CYMLP_SYNC_H

typedef long long cymlp_atomic;

#if defined(_MSC_VER)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <intrin.h>

static __inline cymlp_atomic cymlp_atomic_load(volatile cymlp_atomic *p)
{
    return _InterlockedOr64(p, 0);
}
static __inline void cymlp_atomic_store(volatile cymlp_atomic *p, cymlp_atomic v)
{
    (void)_InterlockedExchange64(p, v);
}
static __inline cymlp_atomic cymlp_atomic_exchange(volatile cymlp_atomic *p, cymlp_atomic v)
{
    return _InterlockedExchange64(p, v);
}
static __inline cymlp_atomic cymlp_atomic_fetch_add(volatile cymlp_atomic *p, cymlp_atomic v)
{
    return _InterlockedExchangeAdd64(p, v);
}
/* Sets *p to desired if it equals expected; returns whether it did. */
static __inline int cymlp_atomic_cas(volatile cymlp_atomic *p, cymlp_atomic expected,
                                     cymlp_atomic desired)
{
    return _InterlockedCompareExchange64(p, desired, expected) == expected;
}
static __inline void cymlp_cpu_pause(void) { YieldProcessor(); }
static __inline void cymlp_thread_yield(void) { (void)SwitchToThread(); }

#else
#include <sched.h>

static inline cymlp_atomic cymlp_atomic_load(volatile cymlp_atomic *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}
static inline void cymlp_atomic_store(volatile cymlp_atomic *p, cymlp_atomic v)
{
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}
static inline cymlp_atomic cymlp_atomic_exchange(volatile cymlp_atomic *p, cymlp_atomic v)
{
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
static inline cymlp_atomic cymlp_atomic_fetch_add(volatile cymlp_atomic *p, cymlp_atomic v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline int cymlp_atomic_cas(volatile cymlp_atomic *p, cymlp_atomic expected,
                                   cymlp_atomic desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}
static inline void cymlp_cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}
static inline void cymlp_thread_yield(void) { (void)sched_yield(); }
#endif

#endif /* CYMLP_SYNC_H */
