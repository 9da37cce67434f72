//! Process-wide allocator settings, applied once at start by the binary and the benches.
//!
//! Owns only allocator options; the global allocator itself (mimalloc) is declared by each
//! executable. Two allocators serve this process: Rust code allocates through mimalloc,
//! but zstd (C, inside parquet-rs) calls libc `malloc`. Both are told to keep freed memory
//! instead of handing it back to the kernel, because on the machines we measured the
//! kernel zeroing pages again (`clear_page_erms`) cost more than the work itself. The
//! pipeline commands also give up transparent huge pages (`no_huge_pages`).

/// mimalloc's `purge_delay` option (index in `mi_option_t`, v2 and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// glibc's largest `M_MMAP_THRESHOLD` on 64-bit (`DEFAULT_MMAP_THRESHOLD_MAX`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_MMAP_THRESHOLD_MAX: libc::c_int = 32 << 20;

/// Applies the settings. Call first thing in `main`, before any thread exists.
///
/// - mimalloc never hands freed memory back (purge delay -1; its default is 10 ms). Each
///   page allocates and frees tens of MB (Arrow builders, Parquet buffers): with the
///   default, the kernel zeroed those pages again for every page, about a fifth of
///   replay's CPU time. A delay of one second was not enough: mimalloc v3 still purged
///   ~240 MiB during a 1.3 s replay of a month (4.5 k page faults; 0.8 k with -1). The
///   working set is bounded by the pipeline (channel, reorder window, row groups), so
///   keeping it costs no more than its peak, which the RSS benchmark shows.
///   `MIMALLOC_PURGE_DELAY` in the environment still wins.
/// - glibc malloc (zstd's): parquet-rs created a zstd compressor and decompressor per
///   column chunk it wrote (today the sink writes all of our tables' columns itself and
///   makes two compressors per file), and each context is allocated at a size glibc serves with a fresh
///   `mmap` and returns with `munmap`, so every column chunk faulted in and zeroed its
///   contexts anew (44 k page faults for a 380 MB replay). With the mmap threshold at its
///   maximum and trimming off, they come from and go back to the heap: 4–6 k page faults,
///   replay +15% (1 thread, 30 days, same session). Peak RSS unchanged. `MALLOC_*_`
///   environment variables, when set, still win.
#[allow(unsafe_code)]
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: mallopt only sets allocator parameters; called before threads start.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD_MAX) };
        }
        if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none() {
            // SAFETY: as above. Freed heap memory stays with the process until exit.
            unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) };
        }
    }
}

/// No transparent huge pages from now on in this process (`PR_SET_THP_DISABLE`), for the
/// pipeline commands (backfill, replay); `MIMALLOC_ALLOW_THP=1` keeps them. mimalloc asks
/// for huge pages (`MADV_HUGEPAGE`) on its 1 GiB arena.
///
/// Why: on a VM whose balloon reports free memory to the host (virtio free page
/// reporting, which reports free blocks of 2 MiB and more: exactly what a huge page fault
/// takes), a huge page the process faults in may first have to be backed by the host
/// again, ~3 ms per 2 MiB (measured). Regular pages come first from smaller free blocks,
/// which are never reported. A month of replay started 3 s after the previous run:
/// 1 thread 284–311 → 343–357 MB/s, 2 threads 324–357 → 393–440. Run back to back
/// (host memory still warm), 1 thread loses ~4% (371–382 → 355–368): 4 KiB faults and TLB
/// misses instead. The simulator keeps huge pages: it serves ~10% faster with them
/// (`sim bench`, warm by its timed passes), and its working set is small.
#[allow(unsafe_code)]
pub fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: sets a flag of this process's memory map; no pointer is passed. Its
        // failure (a kernel without the option) leaves huge pages on, which is harmless.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}
