//! The allocator of ecmp4 and ecmp6, which live a few milliseconds.
//!
//! Why: musl's allocator gives pages back to the kernel as soon as a
//! group of slots empties, so a Vec that grows maps and unmaps again and
//! again: 145 mmap and 144 munmap calls in one hotplug event at 64 dials,
//! each a syscall, a fresh zeroed page and often a TLB flush. Here memory
//! comes from the kernel in 256 KiB chunks and is never given back before
//! the process exits; freed blocks go on a free list of their size class
//! (powers of two, 16 B to 64 KiB) and are reused. Larger blocks (the ubus
//! dump, netlink buffers) are mapped and unmapped on their own.
//!
//! Only the static musl builds (what the packages ship) use it; glibc's
//! allocator keeps its pages and stays for host builds. Not for a daemon:
//! ecmp-track and multidial keep the system allocator. The cost is at most
//! twice the live memory (rounding up to a power of two).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

const MIN_SHIFT: u32 = 4; // 16 bytes: room for the free list's pointer
const MAX_SHIFT: u32 = 16; // 64 KiB
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
const CHUNK: usize = 256 << 10;
const PAGE: usize = 4096;

struct State {
    /// Per class, the first free block (its first word links the next).
    free: [*mut u8; CLASSES],
    /// Where the current chunk's unused part starts and ends.
    next: usize,
    end: usize,
}

/// A size-class allocator over chunks that are never unmapped. Every
/// operation holds a spin lock: ecmp4 and ecmp6 are single-threaded, so
/// it is never contended, but `GlobalAlloc` must be `Sync`.
pub struct Arena {
    lock: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: `state` is only touched while `lock` is held.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Arena {
        Arena {
            lock: AtomicBool::new(false),
            state: UnsafeCell::new(State {
                free: [ptr::null_mut(); CLASSES],
                next: 0,
                end: 0,
            }),
        }
    }

    /// The class of a layout: None for what is mapped on its own.
    fn class(l: Layout) -> Option<usize> {
        let size = l.size().max(l.align()).max(1 << MIN_SHIFT);
        if size > 1 << MAX_SHIFT || l.align() > PAGE {
            return None;
        }
        let shift = usize::BITS - (size - 1).leading_zeros();
        Some((shift - MIN_SHIFT) as usize)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the lock is held: no other reference to the state.
        let r = f(unsafe { &mut *self.state.get() });
        self.lock.store(false, Ordering::Release);
        r
    }
}

impl Default for Arena {
    fn default() -> Arena {
        Arena::new()
    }
}

fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping; no pointer is passed in.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

fn big_len(l: Layout) -> usize {
    (l.size().max(1) + PAGE - 1) & !(PAGE - 1)
}

impl Arena {
    /// A block for `l`, and whether it was never handed out before (so
    /// still zero): a big block is its own new mapping; a block of a
    /// class comes from its free list, else from the chunk.
    fn block(&self, l: Layout) -> (*mut u8, bool) {
        let Some(c) = Arena::class(l) else {
            // A mapping is page-aligned; nothing here asks for more.
            if l.align() > PAGE {
                return (ptr::null_mut(), false);
            }
            return (map(big_len(l)), true);
        };
        let size = 1usize << (c as u32 + MIN_SHIFT);
        let align = size.min(PAGE);
        self.with(|s| {
            let head = s.free[c];
            if !head.is_null() {
                // SAFETY: a free block's first word is the next free one.
                s.free[c] = unsafe { *head.cast::<*mut u8>() };
                return (head, false);
            }
            let mut at = (s.next + align - 1) & !(align - 1);
            if at == 0 || at + size > s.end {
                let chunk = map(CHUNK);
                if chunk.is_null() {
                    return (ptr::null_mut(), false);
                }
                at = chunk as usize;
                s.end = at + CHUNK;
            }
            s.next = at + size;
            (at as *mut u8, true)
        })
    }
}

// SAFETY: blocks of a class are `1 << (class + MIN_SHIFT)` bytes, aligned
// to their size up to a page (chunks are page-aligned, and a block is
// carved at an offset that is a multiple of that alignment); a block is on
// at most one free list, and only after its owner freed it.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        self.block(l).0
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // A big block is a fresh anonymous mapping and a block carved
        // from a chunk for the first time is untouched mapping: both are
        // zero already (the netlink and ubus buffers are not written
        // twice, nor their pages faulted in before the kernel fills them).
        // Only a reused block is cleared.
        let (p, fresh) = self.block(l);
        if !p.is_null() && !fresh {
            // SAFETY: `p` is a block of at least `l.size()` bytes.
            unsafe { ptr::write_bytes(p, 0, l.size()) };
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let Some(c) = Arena::class(l) else {
            // SAFETY: a big block is a mapping of its own, of this length.
            unsafe { libc::munmap(p.cast(), big_len(l)) };
            return;
        };
        self.with(|s| {
            // SAFETY: the block is ours, at least 16 bytes and aligned.
            unsafe { *p.cast::<*mut u8>() = s.free[c] };
            s.free[c] = p;
        })
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's layout rules, as for GlobalAlloc::realloc.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        match (Arena::class(l), Arena::class(new)) {
            // The block already has room (a Vec growing within its class).
            (Some(a), Some(b)) if b <= a => p,
            _ => {
                // SAFETY: as above; the copy covers both blocks' common part.
                unsafe {
                    let q = self.alloc(new);
                    if !q.is_null() {
                        ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                        self.dealloc(p, l);
                    }
                    q
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(Arena::class(l(1, 1)), Some(0));
        assert_eq!(Arena::class(l(16, 8)), Some(0));
        assert_eq!(Arena::class(l(17, 1)), Some(1));
        assert_eq!(Arena::class(l(8, 64)), Some(2));
        assert_eq!(Arena::class(l(65536, 8)), Some(12));
        assert_eq!(Arena::class(l(65537, 8)), None);
        assert_eq!(Arena::class(l(64, 8192)), None);
    }

    /// Blocks are aligned, distinct, hold what is written, are reused
    /// once freed, and grow by copying what they held.
    #[test]
    fn zeroed_blocks_are_zero_fresh_or_reused() {
        let a = Arena::new();
        unsafe {
            for size in [24usize, 4000, 65_536, 150_000] {
                let l = Layout::from_size_align(size, 8).unwrap();
                let p = a.alloc_zeroed(l);
                let zero = |p: *mut u8| std::slice::from_raw_parts(p, size).iter().all(|b| *b == 0);
                assert!(zero(p), "fresh {size}");
                ptr::write_bytes(p, 0xa5, size);
                a.dealloc(p, l);
                // A class block comes back from its free list, dirty.
                let q = a.alloc_zeroed(l);
                assert!(zero(q), "reused {size}");
                a.dealloc(q, l);
            }
        }
    }

    #[test]
    fn alloc_free_reuse_and_realloc() {
        let a = Arena::new();
        unsafe {
            let mut blocks = Vec::new();
            for (i, size) in [1usize, 15, 16, 24, 100, 4000, 5000, 70_000, 300_000]
                .iter()
                .enumerate()
            {
                for align in [1usize, 8, 16, 64, 4096] {
                    let l = Layout::from_size_align(*size, align).unwrap();
                    let p = a.alloc(l);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "{size} {align}");
                    ptr::write_bytes(p, i as u8 + 1, *size);
                    blocks.push((p, l, i as u8 + 1));
                }
            }
            for (p, l, v) in &blocks {
                let s = std::slice::from_raw_parts(*p, l.size());
                assert!(s.iter().all(|b| b == v), "{l:?} overwritten");
            }
            // A freed block of a class comes back for the next of it.
            let (p, l, _) = blocks[10];
            a.dealloc(p, l);
            assert_eq!(a.alloc(l), p);
            // Growth keeps the contents, within a class and across.
            let l = Layout::from_size_align(20, 8).unwrap();
            let p = a.alloc(l);
            ptr::copy_nonoverlapping(b"0123456789abcdefghij".as_ptr(), p, 20);
            assert_eq!(a.realloc(p, l, 32), p);
            let q = a.realloc(p, Layout::from_size_align(32, 8).unwrap(), 200_000);
            assert_eq!(std::slice::from_raw_parts(q, 20), b"0123456789abcdefghij");
            let r = a.realloc(q, Layout::from_size_align(200_000, 8).unwrap(), 10);
            assert_eq!(std::slice::from_raw_parts(r, 10), b"0123456789");
            a.dealloc(r, Layout::from_size_align(10, 8).unwrap());
            for (p, l, _) in blocks {
                a.dealloc(p, l);
            }
        }
    }

    /// Many small blocks span several chunks without overlapping.
    #[test]
    fn chunks_fill_and_follow() {
        let a = Arena::new();
        let l = Layout::from_size_align(4096, 8).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        unsafe {
            for i in 0..300usize {
                let p = a.alloc(l);
                ptr::write_bytes(p, i as u8, 4096);
                assert!(seen.insert(p as usize));
            }
        }
        let v: Vec<usize> = seen.into_iter().collect();
        assert!(v.windows(2).all(|w| w[1] - w[0] >= 4096));
    }
}
