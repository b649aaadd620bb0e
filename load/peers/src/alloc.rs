//! Heap allocation counts, when built with the `count-allocations` feature: dhat
//! becomes the global allocator (counting needs one, and the workspace forbids the
//! unsafe code of our own). dhat records a backtrace per allocation, so a run with
//! the feature is slow: its times are not reported, only its counts.

#[cfg(feature = "count-allocations")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Counts allocations until dropped (does nothing without the feature).
pub(crate) struct Counting {
    #[cfg(feature = "count-allocations")]
    _profiler: dhat::Profiler,
}

/// Starts counting; call once, in the benchmark's process only.
pub(crate) fn start() -> Counting {
    Counting {
        #[cfg(feature = "count-allocations")]
        _profiler: dhat::Profiler::builder().testing().build(),
    }
}

/// Allocations made so far, when counting.
pub(crate) fn count() -> Option<u64> {
    #[cfg(feature = "count-allocations")]
    {
        Some(dhat::HeapStats::get().total_blocks)
    }
    #[cfg(not(feature = "count-allocations"))]
    {
        None
    }
}

/// Whether this build counts allocations.
pub(crate) const ENABLED: bool = cfg!(feature = "count-allocations");
