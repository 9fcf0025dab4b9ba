// SPDX-License-Identifier: GPL-3.0-or-later
// Linked into every test only in the ThreadSanitizer build (CACHEDASH_TSAN): keeps TSan's clone()
// interceptor away from the vfork-like clones QProcess makes.
//
// Qt 6.4's QProcess starts a child with clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) (forkfd's
// vforkfd), the child sharing the parent's memory until it execs. The clone() interceptor of g++ 12's
// libtsan treats every clone as a fork: in the child it runs its after-fork code, which, the memory
// being shared, lands in the *parent's* TSan state. With other threads alive (QtTest's watchdog
// already is one) it marks the parent as "forked while multi-threaded": the next thread the test
// starts (ServiceHost's) dies with "starting new threads after multi-threaded fork is not
// supported", and with die_after_fork=0 the spawning thread would silently stop being checked.
//
// So a clone() with CLONE_VM but without CLONE_THREAD (a vfork: the parent is suspended, the child
// only execs) goes straight to glibc; any other clone still goes through TSan's interceptor. An
// executable's definition comes before libtsan's in symbol lookup, so libQt6Core's call lands here.
#include <dlfcn.h>
#include <sched.h>
#include <sys/types.h>

#include <cstdarg>

namespace {

using CloneFn = int (*)(int (*)(void *), void *, int, void *, ...);

CloneFn lookUp(void *handle)
{
    return handle ? reinterpret_cast<CloneFn>(dlsym(handle, "clone")) : nullptr;
}

} // namespace

extern "C" __attribute__((no_sanitize_thread)) int clone(
    int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    // The optional arguments, as glibc reads them: only meaningful with the matching flags.
    va_list rest;
    va_start(rest, arg);
    pid_t *parentTid = va_arg(rest, pid_t *);
    void *tls = va_arg(rest, void *);
    pid_t *childTid = va_arg(rest, pid_t *);
    va_end(rest);

    static const CloneFn glibc = lookUp(dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD));
    static const CloneFn interceptor = lookUp(RTLD_NEXT);
    const bool vforkLike = (flags & CLONE_VM) && !(flags & CLONE_THREAD);
    const CloneFn target = vforkLike && glibc ? glibc : (interceptor ? interceptor : glibc);
    return target(fn, stack, flags, arg, parentTid, tls, childTid);
}
