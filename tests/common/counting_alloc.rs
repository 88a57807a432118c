//! A global allocator that forwards to `System` and reports the size of
//! every allocation to a hook, for tests that check no decoder sizes a
//! buffer by a length read from its input. A test binary declares
//! `#[global_allocator] static A: Counting = Counting { on_alloc: note };`
//! with its own `note`, which must not allocate or panic.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct Counting {
    /// Called with the requested size before each allocation or growth.
    pub on_alloc: fn(usize),
}

// SAFETY: every call is forwarded unchanged to `System`; the hook only
// observes the size.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (self.on_alloc)(layout.size());
        // SAFETY: the caller upholds GlobalAlloc's contract; forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (self.on_alloc)(layout.size());
        // SAFETY: the caller upholds GlobalAlloc's contract; forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (self.on_alloc)(new_size);
        // SAFETY: the caller upholds GlobalAlloc's contract; forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds GlobalAlloc's contract; forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}
