//! The engine's wake table: one waker per slot id, 16 bytes each, made once and reused by every
//! input the slot holds, and the queue of ids to poll. Invariant I4 of the [module doc](super)
//! is the one this file keeps.

use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

use crate::rt::sync::{AtomicPtr, Mutex};

/// What the per-slot wakers share with their owner: a lock-free stack of woken entries and the
/// owner's own waker.
struct Shared {
    /// Woken entries, most recent first, linked through [`WakerEntry::next`]. Wakers push; the
    /// owner takes the whole stack at once, so there is no pop and no ABA problem.
    head: AtomicPtr<WakerEntry>,
    /// The owner's waker, woken when the stack goes from empty to non-empty (once per batch).
    parent: Mutex<Option<Waker>>,
}

/// The wakers of one segment of slots, in one allocation. A slot's waker is a pointer to its
/// entry; cloning or dropping it counts a reference on the whole segment, so there is no
/// allocation per slot.
struct WakerSegment {
    shared: Arc<Shared>,
    /// The slot id of `entries[0]`.
    start: usize,
    entries: Box<[WakerEntry]>,
}

/// A slot's waker: 16 bytes. The slot id is the entry's position in its segment.
struct WakerEntry {
    /// [`not_queued()`] while the slot is not queued. Otherwise the entry is in exactly one
    /// queue (the shared stack or the owner's local list) and this is its link there (null at
    /// the end); only whoever queued it (a waker, or the owner for its local list) writes it,
    /// until the owner takes it off to poll the slot and stores `not_queued()` again.
    next: AtomicPtr<WakerEntry>,
    /// The segment holding this entry, whose `Arc` reference count the wakers share.
    segment: *const WakerSegment,
}

/// The `next` of an entry that is in no queue: never the address of an entry (nothing is
/// allocated at the alignment's address), never null (the end of a queue).
fn not_queued() -> *mut WakerEntry {
    ptr::dangling_mut()
}

// SAFETY: `segment` only ever points at the `WakerSegment` that holds the entry (whose fields
// are `Send + Sync`), and is used to count references on its `Arc` and to reach `shared`; the
// other field is an atomic.
unsafe impl Send for WakerEntry {}
// SAFETY: as above.
unsafe impl Sync for WakerEntry {}

impl WakerSegment {
    fn new(shared: Arc<Shared>, start: usize, size: usize) -> Arc<Self> {
        let entries = (0..size)
            .map(|_| WakerEntry {
                next: AtomicPtr::new(not_queued()),
                segment: ptr::null(),
            })
            .collect();
        let mut seg = Arc::new(WakerSegment {
            shared,
            start,
            entries,
        });
        let me = Arc::as_ptr(&seg);
        let unique = Arc::get_mut(&mut seg).expect("just made");
        for e in unique.entries.iter_mut() {
            e.segment = me;
        }
        seg
    }
}

impl WakerEntry {
    /// Claims the entry for a queue: false if it is queued already (it will be polled).
    #[inline]
    fn claim(&self) -> bool {
        // Acquire: pairs with the owner's release when it took the entry off a queue, so our
        // writes to `next` come after its last read of it.
        self.next
            .compare_exchange(
                not_queued(),
                ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The slot id of this entry.
    fn slot(&self) -> usize {
        // SAFETY: the segment holding this entry is alive while the entry is.
        let seg = unsafe { &*self.segment };
        // SAFETY: both pointers are into `seg.entries`.
        let off = unsafe { (self as *const WakerEntry).offset_from(seg.entries.as_ptr()) };
        seg.start + off as usize
    }

    fn wake(&self) {
        if !self.claim() {
            return; // already queued: it will be polled
        }
        // SAFETY: whoever wakes holds a waker for this entry, which keeps the segment alive.
        let shared = unsafe { &(*self.segment).shared };
        let me = self as *const WakerEntry as *mut WakerEntry;
        let mut head = shared.head.load(Ordering::Relaxed);
        loop {
            self.next.store(head, Ordering::Relaxed);
            match shared
                .head
                .compare_exchange_weak(head, me, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        if head.is_null() {
            // First of a batch: the owner may be asleep. (If it is awake, it takes the stack
            // after registering its waker, so it sees this entry either way.)
            let parent = shared
                .parent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let Some(w) = parent {
                w.wake();
            }
        }
    }
}

static SLOT_WAKER: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

// The four functions of a slot's waker. Each is called with the `p` of a `RawWaker` made by
// this module: a pointer to a `WakerEntry` whose segment is kept alive by the waker being used
// (a counted reference, or the table itself for the borrowed waker of a poll) (I4).

/// # Safety
///
/// `p` is the data pointer of a live waker of this vtable.
unsafe fn waker_clone(p: *const ()) -> RawWaker {
    // SAFETY: (I4) the waker being cloned keeps the entry's segment alive.
    let entry = unsafe { &*(p as *const WakerEntry) };
    // SAFETY: (I4) `segment` came from `Arc::as_ptr` of the live `Arc` that owns the entry; the
    // new waker owns the count taken here.
    unsafe { Arc::increment_strong_count(entry.segment) };
    RawWaker::new(p, &SLOT_WAKER)
}

/// # Safety
///
/// As [`waker_clone`]; the waker is consumed.
unsafe fn waker_wake(p: *const ()) {
    // SAFETY: the waker is alive until `waker_drop`, which gives back its count.
    unsafe {
        waker_wake_by_ref(p);
        waker_drop(p);
    }
}

/// # Safety
///
/// As [`waker_clone`].
unsafe fn waker_wake_by_ref(p: *const ()) {
    // SAFETY: (I4) the waker keeps the entry's segment alive for this call.
    unsafe { &*(p as *const WakerEntry) }.wake();
}

/// # Safety
///
/// As [`waker_clone`]; the waker (and its count on the segment) is consumed.
unsafe fn waker_drop(p: *const ()) {
    // Read the segment pointer first: the decrement may free the entry.
    // SAFETY: (I4) the waker keeps the segment alive until the decrement below.
    let segment = unsafe { (*(p as *const WakerEntry)).segment };
    // SAFETY: (I4) this waker owned one count on the segment's `Arc`, made by `Arc::as_ptr`.
    unsafe { Arc::decrement_strong_count(segment) };
}

/// An entry pointer held by the owner of a [`WakeTable`] (its local list).
#[derive(Clone, Copy)]
struct EntryPtr(*const WakerEntry);

// SAFETY: only the table's owner dereferences these, while the table keeps every segment alive.
unsafe impl Send for EntryPtr {}
// SAFETY: as above.
unsafe impl Sync for EntryPtr {}

impl EntryPtr {
    const NULL: EntryPtr = EntryPtr(ptr::null());
    fn is_null(self) -> bool {
        self.0.is_null()
    }
}

/// One waker per slot id and the queue of ids to poll: a lock-free stack that wakers push to,
/// drained in wake order into a local list that only the owner touches. Both are intrusive
/// (linked through the entries), so queueing allocates nothing and costs no lock; the owner's
/// waker is taken from a mutex once per batch of wake-ups.
pub(crate) struct WakeTable {
    shared: Arc<Shared>,
    segments: Vec<Arc<WakerSegment>>,
    starts: Vec<usize>,
    capacity: usize,
    /// The owner's waker as last registered, to skip the mutex when it has not changed.
    parent: Option<Waker>,
    /// Queued entries in poll order (oldest first), owned by the owner.
    local_head: EntryPtr,
    local_tail: EntryPtr,
    /// How many entries the local list holds.
    local_len: usize,
}

impl WakeTable {
    pub(crate) fn new() -> Self {
        WakeTable {
            shared: Arc::new(Shared {
                head: AtomicPtr::new(ptr::null_mut()),
                parent: Mutex::new(None),
            }),
            segments: Vec::new(),
            starts: Vec::new(),
            capacity: 0,
            parent: None,
            local_head: EntryPtr::NULL,
            local_tail: EntryPtr::NULL,
            local_len: 0,
        }
    }

    /// Ids below this have a waker.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds wakers for ids `capacity..capacity + size`.
    pub(crate) fn grow(&mut self, size: usize) {
        let start = self.capacity;
        self.segments
            .push(WakerSegment::new(self.shared.clone(), start, size));
        self.starts.push(start);
        self.capacity += size;
    }

    /// The segment and offset of `id`.
    #[inline]
    fn locate(&self, id: usize) -> (usize, usize) {
        // Almost every id is in the first segment, which is sized from the source's hint.
        let mut seg = self.starts.len() - 1;
        while self.starts[seg] > id {
            seg -= 1;
        }
        (seg, id - self.starts[seg])
    }

    #[inline]
    fn entry(&self, seg: usize, off: usize) -> &WakerEntry {
        &self.segments[seg].entries[off]
    }

    fn push_local(&mut self, e: EntryPtr) {
        // SAFETY: `e` is an entry of one of our segments, alive while we are; it is
        // claimed (in no other queue), so we own its link.
        unsafe { (*e.0).next.store(ptr::null_mut(), Ordering::Relaxed) };
        if self.local_tail.is_null() {
            self.local_head = e;
        } else {
            // SAFETY: the tail is one of our queued entries, as above.
            unsafe {
                (*self.local_tail.0)
                    .next
                    .store(e.0 as *mut _, Ordering::Relaxed)
            };
        }
        self.local_tail = e;
        self.local_len += 1;
    }

    /// Queues `id` to be polled, unless it is queued already.
    pub(crate) fn schedule(&mut self, id: usize) {
        let (seg, off) = self.locate(id);
        let e = self.entry(seg, off);
        if !e.claim() {
            return;
        }
        let e = EntryPtr(e);
        self.push_local(e);
    }

    /// Records the owner's waker, for the next batch of wake-ups.
    pub(crate) fn register(&mut self, waker: &Waker) {
        if self.parent.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return;
        }
        self.parent = Some(waker.clone());
        *self.shared.parent.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
    }

    /// Moves every woken entry to the local list, in wake order. Call after [`register`]:
    /// a wake-up that comes later finds the stack empty and wakes the registered waker.
    ///
    /// [`register`]: Self::register
    pub(crate) fn collect(&mut self) {
        let mut p = self.shared.head.swap(ptr::null_mut(), Ordering::Acquire) as *const WakerEntry;
        if p.is_null() {
            return;
        }
        // The stack is newest first: reverse it. Its entries are all queued, so we own their
        // links now.
        let last = EntryPtr(p);
        let mut rev: *const WakerEntry = ptr::null();
        while !p.is_null() {
            self.local_len += 1;
            // SAFETY: entries on our stack belong to our segments, alive while we are.
            let e = unsafe { &*p };
            let next = e.next.load(Ordering::Relaxed);
            e.next.store(rev as *mut _, Ordering::Relaxed);
            rev = p;
            p = next;
        }
        if self.local_tail.is_null() {
            self.local_head = EntryPtr(rev);
        } else {
            // SAFETY: as in `push_local`.
            unsafe {
                (*self.local_tail.0)
                    .next
                    .store(rev as *mut _, Ordering::Relaxed)
            };
        }
        self.local_tail = last;
    }

    /// How many ids are queued locally (call [`collect`](Self::collect) first).
    pub(crate) fn queued(&self) -> usize {
        self.local_len
    }

    /// True when nothing is queued locally (call [`collect`](Self::collect) first).
    pub(crate) fn is_idle(&self) -> bool {
        self.local_head.is_null()
    }

    /// Takes the next queued id off the local list, with the waker to poll it with. From now
    /// on a wake-up queues the id again.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<(usize, ManuallyDrop<Waker>)> {
        let e = self.local_head;
        if e.is_null() {
            return None;
        }
        // SAFETY: a queued entry of ours, as in `push_local`.
        let entry = unsafe { &*e.0 };
        // Read the link before releasing the entry: after that, a waker may relink it.
        let next = entry.next.load(Ordering::Relaxed);
        self.local_head = EntryPtr(next);
        self.local_len -= 1;
        if next.is_null() {
            self.local_tail = EntryPtr::NULL;
        }
        entry.next.store(not_queued(), Ordering::Release);
        let raw = RawWaker::new(e.0 as *const (), &SLOT_WAKER);
        // SAFETY: a borrowed waker: never dropped (ManuallyDrop), so it takes no reference;
        // the table keeps the segment alive while its owner polls with it. Clones count their
        // own references.
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        Some((entry.slot(), waker))
    }

    /// Runs `f` with the waker of `id`, borrowed as [`pop`](Self::pop) lends it: for a first
    /// poll of an input that is not queued (a task group polls a new child's `JoinHandle`
    /// once where it spawns it). Clones count their own references.
    ///
    /// # Panics
    ///
    /// Panics if `id` has no waker (see [`grow`](Self::grow)).
    pub(crate) fn with_waker<R>(&self, id: usize, f: impl FnOnce(&Waker) -> R) -> R {
        assert!(
            id < self.capacity,
            "a waker for every id below the capacity"
        );
        let (seg, off) = self.locate(id);
        let entry: *const WakerEntry = self.entry(seg, off);
        let raw = RawWaker::new(entry as *const (), &SLOT_WAKER);
        // SAFETY: as in `pop`: borrowed, never dropped, backed by the table's reference to the
        // segment, which lives while `&self` does (I4).
        let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw) });
        f(&waker)
    }

    /// Forgets the owner's waker: wakers still held elsewhere must not wake an owner that has
    /// moved on.
    pub(crate) fn clear_parent(&mut self) {
        self.parent = None;
        *self.shared.parent.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Drop for WakeTable {
    fn drop(&mut self) {
        self.clear_parent();
    }
}
