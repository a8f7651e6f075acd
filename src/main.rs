// Trees of small nodes are built on all cores and kept: glibc's allocator spent a sixth of a check
// in malloc/free and its locks; mimalloc is 25% faster at 10k objects (docs/design.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v2's `mi_option_t` (the crate exports no constant for it;
/// the test below checks the index against the option's documented default).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Freed memory goes back to the system after 1 ms instead of 10 (100 for whole arenas): the
    // text of a render and the parse's scratch are freed while the analysis allocates, and held
    // pages made the peak 17% higher at 10k objects, for <3% of time (docs/performance.md). A
    // MIMALLOC_PURGE_DELAY in the environment still wins.
    // SAFETY: mimalloc's option setters are not thread-safe; this runs before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, 1) };
    std::process::exit(meterguard::cli::main());
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_the_one_whose_default_is_ten_milliseconds() {
        // SAFETY: reads an option.
        let (delay, next) = unsafe {
            (libmimalloc_sys::mi_option_get(super::PURGE_DELAY), libmimalloc_sys::mi_option_get(super::PURGE_DELAY + 1))
        };
        // purge_delay (=10) is followed by use_numa_nodes (=0).
        assert_eq!((delay, next), (10, 0));
    }
}
