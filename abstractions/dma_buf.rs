// SPDX-License-Identifier: GPL-2.0

//! DMA-buf exporters.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`] (a `#[vtable]` trait: the optional
//! ops it leaves out are not in the C table) for its buffer type;
//! [`export()`] initialises a buffer in place and makes it a dma-buf whose
//! `struct dma_buf_ops` is generated from the trait once, as a constant (as
//! `drm::gem` does for GEM objects). Every callback trampoline, with its
//! safety argument, is here; the exporter writes safe code.
//!
//! Ownership: the dma-buf's `priv` holds the layer's state of the export
//! ([`Exported`]: the buffer itself, embedded as a GEM object embeds its
//! driver's data, and the kernel mapping while there is one) from export
//! until `release`, which the core calls once, after the last user of the
//! dma-buf is gone; the buffer drops there. One allocation holds both.
//! Each importer's [`Attachment`] hangs off its `struct
//! dma_buf_attachment` (`priv`), from `attach` until `detach`; it owns the
//! importer's mappings, each with its own table. Only the trampolines
//! create, map, unmap and detach an attachment: an exporter that keeps one
//! (to sync its mappings) can sync, never unmap.
//!
//! Device lifetimes: a mapping is made for the importer's device, which the
//! layer borrows as bound from `map_dma_buf` until the mapping is undone in
//! `unmap_dma_buf` or `detach`. The importer's contract (it maps, unmaps and
//! detaches only while its driver is bound) is what makes that true; the
//! one place that relies on it is [`Attachment::map`].
//!
//! Lock order: the dma-buf core's reservation lock (held around map, unmap,
//! vmap and vunmap) comes first; then [`Exported`]'s kernel-mapping lock;
//! then the exporter's own locks; the lock of an [`Attachment`] is the
//! innermost. [`Exporter::map`] and [`Exporter::unmap`] run under it and
//! must not take the exporter's locks.

use super::{
    dma, helpers,
    scatterlist::{MappedSgTable, Segments},
    vmalloc::VMap,
};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    device::{Bound, Device},
    dma::DataDirection,
    error::{from_err_ptr, VTABLE_DEFAULT_ERROR},
    ffi::c_int,
    fs::{file::FileDescriptorReservation, File},
    mm::virt::VmaNew,
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{
        aref::{ARef, AlwaysRefCounted},
        Arc, ArcBorrow, Mutex,
    },
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

/// A buffer that can be exported as a dma-buf.
#[vtable]
pub(crate) trait Exporter: Sized + Send + Sync + 'static {
    /// What the importers' tables and the kernel mapping describe and keep
    /// alive (an `Arc` of the buffer's pages, typically). It must not hold
    /// the buffer itself, or a buffer that keeps its attachments would keep
    /// itself.
    type Pages: Segments + Unpin + 'static;

    /// The exporter name that the dma-buf reports (`exp_name` in fdinfo,
    /// debugfs and the BPF iterator). The core does not copy it: borrowed
    /// from `self`, it lives as long as the buffer, which the dma-buf keeps
    /// until release, after which the core does not read it.
    fn exp_name(&self) -> &CStr;

    /// A new importer is attached; the exporter may keep a reference to
    /// the attachment (to sync its mappings). An error refuses the attach.
    fn attach(&self, _attachment: &Arc<Attachment<Self>>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The importer detaches. Its mappings, if it left any, are already
    /// undone.
    fn detach(&self, _attachment: &Arc<Attachment<Self>>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Maps the buffer for the importer's `dev` in `dir`: a new table,
    /// mapped for exactly that device and direction (anything else is
    /// refused with `EINVAL`). `mapped` is how many mappings the attachment
    /// has already. Runs under the attachment's lock.
    fn map<'a>(
        &self,
        dev: &'a Device<Bound>,
        mapped: usize,
        dir: DataDirection,
    ) -> Result<MappedSgTable<'a, Self::Pages>>;

    /// Undoes a mapping made by [`Exporter::map`]; by default, its drop
    /// does. Runs under the attachment's lock.
    fn unmap(&self, mapped: MappedSgTable<'_, Self::Pages>) {
        drop(mapped);
    }

    /// The CPU is about to access the buffer in `dir`; `vmap` is the kernel
    /// mapping, if there is one.
    fn begin_cpu_access(&self, _dir: DataDirection, _vmap: Option<&VMap<Self::Pages>>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The CPU is done accessing the buffer in `dir`; `vmap` as above.
    fn end_cpu_access(&self, _dir: DataDirection, _vmap: Option<&VMap<Self::Pages>>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Maps the buffer into a VMA being set up, whose size and offset the
    /// core has checked against the buffer's size.
    fn mmap(&self, _vma: &VmaNew) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A kernel mapping of the whole buffer. The layer checks that it is at
    /// least as long as the dma-buf (`EINVAL` otherwise) and keeps it until
    /// the core's `vunmap` (the core calls `vmap` only for its first user).
    fn vmap(&self) -> Result<VMap<Self::Pages>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The kernel mapping's last user is gone; by default, its drop unmaps
    /// it.
    fn vunmap(&self, map: VMap<Self::Pages>) {
        drop(map);
    }
}

/// The layer's state of one export: the buffer, and its kernel mapping
/// while the core has one.
#[pin_data]
struct Exported<T: Exporter> {
    #[pin]
    obj: T,
    #[pin]
    vmap: Mutex<Option<VMap<T::Pages>>>,
}

/// One importer's attachment to a buffer of `T`.
///
/// # Invariants
///
/// `dev` is the importer's device, referenced for as long as this value
/// lives. Every mapping in `maps` was made for `dev`, which stays bound
/// until the mapping leaves `maps` (the importer's contract, see
/// [`Attachment::map`]); `maps` is emptied by `unmap_dma_buf` and
/// `detach`.
#[pin_data]
pub(crate) struct Attachment<T: Exporter> {
    dev: ARef<Device>,
    #[pin]
    maps: Mutex<KVec<MappedSgTable<'static, T::Pages>>>,
}

impl<T: Exporter> Attachment<T> {
    /// Attaches `dev` to `obj`, as the core's `attach` does: the exporter
    /// is told of the new attachment ([`Exporter::attach`]).
    fn new(obj: &T, dev: &Device) -> Result<Arc<Self>> {
        let a = Arc::pin_init(
            pin_init!(Self {
                dev: dev.into(),
                maps <- new_mutex!(KVec::new()),
            }),
            GFP_KERNEL,
        )?;
        if T::HAS_ATTACH {
            obj.attach(&a)?;
        }
        Ok(a)
    }

    /// Detaches from `obj`, as the core's `detach` does: a mapping the
    /// importer left is undone first, while its device is still bound.
    fn detach(self: Arc<Self>, obj: &T) {
        let left = core::mem::take(&mut *self.maps.lock());
        for m in left {
            obj.unmap(m);
        }
        if T::HAS_DETACH {
            obj.detach(&self);
        }
    }

    /// Maps the buffer for the attachment's device in `dir`
    /// ([`Exporter::map`]), as the core's `map_dma_buf` does; returns the C
    /// table, valid until [`Attachment::unmap`] or detach. A mapping for
    /// another device or direction is undone and refused (`EINVAL`).
    fn map(&self, obj: &T, dir: DataDirection) -> Result<*mut bindings::sg_table> {
        let mut maps = self.maps.lock();
        maps.reserve(1, GFP_KERNEL)?;
        // SAFETY: The importer's contract: `dev` is the importer's device,
        // which maps, unmaps and detaches only while its driver is bound.
        // So it is bound now and until this mapping is undone, in
        // `unmap_dma_buf` or at the latest in `detach` (invariant).
        let dev = unsafe { self.dev.as_bound() };
        let m = obj.map(dev, maps.len(), dir)?;
        if !core::ptr::eq(m.device(), &*self.dev) || m.direction() != dir {
            obj.unmap(m);
            return Err(EINVAL);
        }
        // SAFETY: As above: the mapping stays in `maps` until it is undone,
        // which happens before the device's driver unbinds.
        let m = unsafe { m.extend::<'static>() };
        let raw = m.as_raw();
        // INVARIANT: A mapping for `dev` (checked), bound meanwhile.
        maps.push_within_capacity(m).map_err(|_| ENOMEM)?;
        Ok(raw)
    }

    /// Undoes the mapping of `sgt` ([`Exporter::unmap`]), as the core's
    /// `unmap_dma_buf` does. A table that is not one of this attachment's
    /// mappings is `EINVAL`, and nothing changes.
    fn unmap(&self, obj: &T, sgt: *mut bindings::sg_table) -> Result {
        let mut maps = self.maps.lock();
        let i = maps.iter().position(|m| m.as_raw() == sgt).ok_or(EINVAL)?;
        let m = maps.remove(i).map_err(|_| EINVAL)?;
        obj.unmap(m);
        Ok(())
    }

    /// The importer's device.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn device(&self) -> &Device {
        &self.dev
    }

    /// Calls `f` with each of the attachment's mappings, under its lock;
    /// returns how many there were.
    pub(crate) fn with_mappings(&self, mut f: impl FnMut(&MappedSgTable<'_, T::Pages>)) -> usize {
        let maps = self.maps.lock();
        maps.iter().for_each(&mut f);
        maps.len()
    }

    /// Whether the attachment is mapped.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn is_mapped(&self) -> bool {
        self.with_mappings(|_| ()) > 0
    }
}

/// A dma-buf exported from a `T`, counted by its file's references: an
/// `ARef<DmaBuf<T>>` owns one.
///
/// # Invariants
///
/// The value is the `struct dma_buf` of a dma-buf exported by [`export()`]
/// for a `T`, live while a reference is held.
#[repr(transparent)]
pub(crate) struct DmaBuf<T: Exporter>(Opaque<bindings::dma_buf>, PhantomData<T>);

// SAFETY: References are taken and put with atomic operations, from any
// thread; the exporter state behind it is `Send + Sync` (`Exporter`).
unsafe impl<T: Exporter> Send for DmaBuf<T> {}
// SAFETY: Shared references only read the dma-buf and reach `T`, which is
// `Sync`.
unsafe impl<T: Exporter> Sync for DmaBuf<T> {}

// SAFETY: A dma-buf's references are its file's (`get_dma_buf` and
// `dma_buf_put`), and it lives while one is held.
unsafe impl<T: Exporter> AlwaysRefCounted for DmaBuf<T> {
    fn inc_ref(&self) {
        // SAFETY: The dma-buf is live while borrowed (invariant).
        unsafe { helpers::rust_helper_get_dma_buf(self.0.get()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference, given up here.
        unsafe { bindings::dma_buf_put(obj.cast().as_ptr()) };
    }
}

impl<T: Exporter> DmaBuf<T> {
    /// The C `struct dma_buf`.
    #[cfg(ion_rs_kunit)]
    pub(crate) fn as_raw(&self) -> *mut bindings::dma_buf {
        self.0.get()
    }

    /// Installs the dma-buf's file at the reserved fd; the reference goes
    /// to the fd table.
    pub(crate) fn install(this: ARef<Self>, fd: FileDescriptorReservation) {
        let raw = Self::into_raw(this);
        // SAFETY: `raw` is live: we still own its reference.
        let file = unsafe { (*raw).file };
        // SAFETY: A dma-buf's reference is its file's reference, which we
        // own and pass on here (`into_raw` kept it from being put). A new
        // file has no `fdget_pos` users.
        let file: ARef<File> = unsafe { ARef::from_raw(NonNull::from(File::from_raw_file(file))) };
        fd.fd_install(file);
    }

    /// Hands the reference to the caller, as a C `struct dma_buf *` (the
    /// dma-heap core's `allocate` returns it so).
    pub(crate) fn into_raw(this: ARef<Self>) -> *mut bindings::dma_buf {
        ARef::into_raw(this).cast().as_ptr()
    }

    /// The buffer the dma-buf exports.
    pub(crate) fn exporter(&self) -> &T {
        // SAFETY: The dma-buf is live and ours (invariant): its state stays
        // until release, which the reference behind the borrow delays.
        unsafe { Vtable::<T>::obj(self.0.get()) }
    }

    /// The exporter name that the dma-buf reports (`exp_name`).
    #[cfg(ion_rs_kunit)]
    pub(crate) fn exp_name(&self) -> &CStr {
        // SAFETY: The dma-buf is live (invariant); `exp_name` is the
        // buffer's ([`Exporter::exp_name`]), alive until release.
        unsafe { CStr::from_char_ptr((*self.as_raw()).exp_name) }
    }
}

/// Exports the buffer that `obj` initialises as a new dma-buf of `size`
/// bytes, named by [`Exporter::exp_name`], whose file gets `file_flags`
/// (the access mode, and `O_CLOEXEC`). `module` is the exporter's: the core
/// keeps it referenced while the dma-buf lives. The buffer lives in the
/// dma-buf's state, from here until release; if `obj` or the export fails,
/// it drops here.
pub(crate) fn export<T: Exporter>(
    obj: impl PinInit<T, Error>,
    module: &'static ThisModule,
    size: usize,
    file_flags: u32,
) -> Result<ARef<DmaBuf<T>>> {
    let state = KBox::pin_init(
        try_pin_init!(Exported {
            obj <- obj,
            vmap <- new_mutex!(None),
        }? Error),
        GFP_KERNEL,
    )?;
    // The name lives in the buffer (or what it owns), which `priv` keeps
    // until release, at the same address: the state is pinned.
    let exp_name = state.obj.exp_name().as_char_ptr();
    let private = state.into_foreign();
    let info = bindings::dma_buf_export_info {
        exp_name,
        owner: module.as_ptr(),
        ops: &Vtable::<T>::OPS,
        size,
        flags: file_flags as c_int,
        resv: core::ptr::null_mut(),
        priv_: private.cast(),
    };
    // SAFETY: `info` is fully initialised; the core keeps `owner`
    // referenced for the dma-buf's life, so the ops outlive every call.
    let res = from_err_ptr(unsafe { bindings::dma_buf_export(&info) });
    match res.as_ref().ok().copied().and_then(NonNull::new) {
        // SAFETY: A new dma-buf of `T`, whose one reference is ours.
        Some(raw) => Ok(unsafe { ARef::from_raw(raw.cast()) }),
        None => {
            // SAFETY: The export failed: the core kept nothing of `private`.
            drop(unsafe { Pin::<KBox<Exported<T>>>::from_foreign(private) });
            Err(res.err().unwrap_or(ENOMEM))
        }
    }
}

/// The generated `struct dma_buf_ops` of `T` and its trampolines.
struct Vtable<T: Exporter>(PhantomData<T>);

fn errno(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

impl<T: Exporter> Vtable<T> {
    const OPS: bindings::dma_buf_ops = bindings::dma_buf_ops {
        attach: Some(Self::attach),
        detach: Some(Self::detach),
        map_dma_buf: Some(Self::map_dma_buf),
        unmap_dma_buf: Some(Self::unmap_dma_buf),
        release: Some(Self::release),
        begin_cpu_access: if T::HAS_BEGIN_CPU_ACCESS {
            Some(Self::begin_cpu_access)
        } else {
            None
        },
        end_cpu_access: if T::HAS_END_CPU_ACCESS {
            Some(Self::end_cpu_access)
        } else {
            None
        },
        mmap: if T::HAS_MMAP { Some(Self::mmap) } else { None },
        vmap: if T::HAS_VMAP { Some(Self::vmap) } else { None },
        vunmap: if T::HAS_VMAP {
            Some(Self::vunmap)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// The layer's state of a dma-buf.
    ///
    /// # Safety
    ///
    /// `dmabuf` must be a dma-buf exported by [`export()`] for `T` and not yet
    /// released, for `'a`.
    unsafe fn exported<'a>(dmabuf: *mut bindings::dma_buf) -> Pin<&'a Exported<T>> {
        // SAFETY: `priv` is the state from `export`, kept until release.
        unsafe { Pin::<KBox<Exported<T>>>::borrow((*dmabuf).priv_) }
    }

    /// The buffer behind a dma-buf.
    ///
    /// # Safety
    ///
    /// As for [`Self::exported`].
    unsafe fn obj<'a>(dmabuf: *mut bindings::dma_buf) -> &'a T {
        // SAFETY: By the caller.
        let e = unsafe { Self::exported(dmabuf) };
        &e.get_ref().obj
    }

    /// The attachment state behind an attachment.
    ///
    /// # Safety
    ///
    /// `attach` must be an attachment set up by [`Self::attach`] and not yet
    /// detached, for `'a`.
    unsafe fn attachment<'a>(
        attach: *mut bindings::dma_buf_attachment,
    ) -> ArcBorrow<'a, Attachment<T>> {
        // SAFETY: `priv` is the `Arc` stored by `attach`, kept until detach.
        unsafe { Arc::<Attachment<T>>::borrow((*attach).priv_) }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, with a live dma-buf of `T` and an
    /// attachment being set up.
    unsafe extern "C" fn attach(
        dmabuf: *mut bindings::dma_buf,
        attach: *mut bindings::dma_buf_attachment,
    ) -> c_int {
        // SAFETY: The core attaches to live dma-bufs of ours.
        let obj = unsafe { Self::obj(dmabuf) };
        // SAFETY: `attach` is valid; its `dev` is the importer's device,
        // alive at least until detach.
        let Some(dev) = NonNull::new(unsafe { (*attach).dev }) else {
            return EINVAL.to_errno();
        };
        // SAFETY: As above; `Device` wraps `struct device`.
        let dev = unsafe { Device::from_raw(dev.as_ptr()) };
        let res = Attachment::new(obj, dev).map(|a| {
            // SAFETY: `attach` is being set up; `priv` is ours to set, and
            // `detach` takes the reference back.
            unsafe { (*attach).priv_ = a.into_foreign().cast() };
        });
        errno(res)
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, once per successful attach.
    unsafe extern "C" fn detach(
        dmabuf: *mut bindings::dma_buf,
        attach: *mut bindings::dma_buf_attachment,
    ) {
        // SAFETY: The core detaches from live dma-bufs of ours.
        let obj = unsafe { Self::obj(dmabuf) };
        // SAFETY: `priv` holds the reference stored by `attach`, taken back
        // once, here.
        let a = unsafe { Arc::<Attachment<T>>::from_foreign((*attach).priv_) };
        a.detach(obj);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, on a live attachment.
    unsafe extern "C" fn map_dma_buf(
        attach: *mut bindings::dma_buf_attachment,
        dir: bindings::dma_data_direction,
    ) -> *mut bindings::sg_table {
        // SAFETY: A live attachment of a live dma-buf of ours.
        let (obj, a) = unsafe { (Self::obj((*attach).dmabuf), Self::attachment(attach)) };
        match dma::direction_from_raw(dir).and_then(|d| a.map(obj, d)) {
            Ok(t) => t,
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, on a live attachment.
    unsafe extern "C" fn unmap_dma_buf(
        attach: *mut bindings::dma_buf_attachment,
        sgt: *mut bindings::sg_table,
        _dir: bindings::dma_data_direction,
    ) {
        // SAFETY: A live attachment of a live dma-buf of ours.
        let (obj, a) = unsafe { (Self::obj((*attach).dmabuf), Self::attachment(attach)) };
        // An unmap of a table that is not this attachment's mapping is
        // refused quietly: the C callback cannot fail.
        let _ = a.unmap(obj, sgt);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, once, after the last user.
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: The state stored by `export`, given back once.
        let state = unsafe { Pin::<KBox<Exported<T>>>::from_foreign((*dmabuf).priv_) };
        // The core refuses to release a dma-buf that is still vmapped; a
        // mapping left anyway goes back to the exporter.
        let left = state.vmap.lock().take();
        if let Some(map) = left {
            state.obj.vunmap(map);
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, on a live dma-buf of ours.
    unsafe extern "C" fn begin_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: By the caller.
        let e = unsafe { Self::exported(dmabuf) };
        let vmap = e.vmap.lock();
        errno(dma::direction_from_raw(dir).and_then(|d| e.obj.begin_cpu_access(d, vmap.as_ref())))
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, on a live dma-buf of ours.
    unsafe extern "C" fn end_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: By the caller.
        let e = unsafe { Self::exported(dmabuf) };
        let vmap = e.vmap.lock();
        errno(dma::direction_from_raw(dir).and_then(|d| e.obj.end_cpu_access(d, vmap.as_ref())))
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, on a live dma-buf of ours, with a
    /// VMA being set up by mmap.
    unsafe extern "C" fn mmap(
        dmabuf: *mut bindings::dma_buf,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: By the caller.
        let obj = unsafe { Self::obj(dmabuf) };
        // SAFETY: A VMA being set up, valid for the call, under mmap lock.
        let vma = unsafe { VmaNew::from_raw(vma) };
        errno(obj.mmap(vma))
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, on a live dma-buf of ours, with a
    /// map to fill, when the dma-buf has no kernel mapping yet.
    unsafe extern "C" fn vmap(
        dmabuf: *mut bindings::dma_buf,
        map: *mut bindings::iosys_map,
    ) -> c_int {
        // SAFETY: By the caller.
        let (e, size) = unsafe { (Self::exported(dmabuf), (*dmabuf).size) };
        let mut slot = e.vmap.lock();
        if slot.is_some() {
            // The core maps once for all its users: not reached.
            return EBUSY.to_errno();
        }
        let v = match e.obj.vmap() {
            Ok(v) => v,
            Err(err) => return err.to_errno(),
        };
        // The core trusts the address for `size` bytes: a shorter mapping
        // is refused.
        if v.len() < size {
            e.obj.vunmap(v);
            return EINVAL.to_errno();
        }
        // SAFETY: `map` is the caller's to fill; system memory, mapped for
        // at least `size` bytes until `vunmap`, which drops `v`.
        unsafe {
            (*map).__bindgen_anon_1.vaddr = v.as_ptr().as_ptr();
            (*map).is_iomem = false;
        }
        *slot = Some(v);
        0
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, once per successful vmap.
    unsafe extern "C" fn vunmap(dmabuf: *mut bindings::dma_buf, _map: *mut bindings::iosys_map) {
        // SAFETY: By the caller.
        let e = unsafe { Self::exported(dmabuf) };
        let v = e.vmap.lock().take();
        if let Some(v) = v {
            e.obj.vunmap(v);
        }
    }
}

/// What tests do to a dma-buf as an importer would, through the dma-buf
/// core: not for drivers.
#[cfg(ion_rs_kunit)]
pub(crate) mod testing {
    use super::*;
    use kernel::error::to_result;

    /// An attachment of a test device to a dma-buf, detached on drop.
    ///
    /// # Invariants
    ///
    /// `att` is an attachment of `buf`'s dma-buf to `dev`, made by
    /// `dma_buf_attach`, detached once, on drop; `dev` is bound for `'a`.
    pub(crate) struct Importer<'a, T: Exporter> {
        buf: &'a DmaBuf<T>,
        att: NonNull<bindings::dma_buf_attachment>,
    }

    /// A mapping of an [`Importer`], unmapped by [`Importer::unmap`].
    pub(crate) struct Mapping {
        sgt: NonNull<bindings::sg_table>,
        dir: DataDirection,
    }

    impl Mapping {
        /// The table the core handed out.
        pub(crate) fn as_raw(&self) -> *mut bindings::sg_table {
            self.sgt.as_ptr()
        }
    }

    impl<'a, T: Exporter> Importer<'a, T> {
        /// Attaches `dev`, bound for `'a`, to `buf`.
        pub(crate) fn attach(buf: &'a DmaBuf<T>, dev: &'a Device<Bound>) -> Result<Self> {
            let (raw, d) = (buf.as_raw(), dma::raw(dev));
            // SAFETY: The dma-buf is live (`buf`), the device bound for `'a`.
            let att = from_err_ptr(unsafe { bindings::dma_buf_attach(raw, d) })?;
            // INVARIANT: A new attachment, detached on drop.
            Ok(Self {
                buf,
                att: NonNull::new(att).ok_or(ENOMEM)?,
            })
        }

        /// The layer's state of the attachment.
        pub(crate) fn attachment(&self) -> ArcBorrow<'_, Attachment<T>> {
            // SAFETY: Attached by the generated `attach` of `T` and not
            // detached while `self` lives (invariant).
            unsafe { Vtable::<T>::attachment(self.att.as_ptr()) }
        }

        /// Maps the attachment in `dir` (`dma_buf_map_attachment`).
        pub(crate) fn map(&self, dir: DataDirection) -> Result<Mapping> {
            // SAFETY: A live attachment (invariant).
            let sgt = from_err_ptr(unsafe {
                bindings::dma_buf_map_attachment_unlocked(self.att.as_ptr(), dir.into())
            })?;
            Ok(Mapping {
                sgt: NonNull::new(sgt).ok_or(ENOMEM)?,
                dir,
            })
        }

        /// Undoes a mapping of this attachment.
        pub(crate) fn unmap(&self, m: Mapping) {
            // SAFETY: `m` came from `map` on this live attachment, and is
            // unmapped once (taken by value).
            unsafe {
                bindings::dma_buf_unmap_attachment_unlocked(
                    self.att.as_ptr(),
                    m.sgt.as_ptr(),
                    m.dir.into(),
                )
            };
        }
    }

    impl<T: Exporter> Drop for Importer<'_, T> {
        fn drop(&mut self) {
            // SAFETY: Attached, detached once (invariant).
            unsafe { bindings::dma_buf_detach(self.buf.as_raw(), self.att.as_ptr()) };
        }
    }

    /// `dma_buf_begin_cpu_access`.
    pub(crate) fn begin_cpu_access<T: Exporter>(buf: &DmaBuf<T>, dir: DataDirection) -> Result {
        // SAFETY: The dma-buf is live (`buf`).
        to_result(unsafe { bindings::dma_buf_begin_cpu_access(buf.as_raw(), dir.into()) })
    }

    /// `dma_buf_end_cpu_access`.
    pub(crate) fn end_cpu_access<T: Exporter>(buf: &DmaBuf<T>, dir: DataDirection) -> Result {
        // SAFETY: The dma-buf is live (`buf`).
        to_result(unsafe { bindings::dma_buf_end_cpu_access(buf.as_raw(), dir.into()) })
    }

    /// A kernel mapping of the dma-buf through the core, for `f`; unmapped
    /// after it. `f` gets the address and the dma-buf's size.
    pub(crate) fn with_vmap<T: Exporter, R>(
        buf: &DmaBuf<T>,
        f: impl FnOnce(NonNull<u8>, usize) -> R,
    ) -> Result<R> {
        let mut map: bindings::iosys_map = pin_init::zeroed();
        // SAFETY: The dma-buf is live (`buf`); `map` is filled on success.
        to_result(unsafe { bindings::dma_buf_vmap_unlocked(buf.as_raw(), &mut map) })?;
        // SAFETY: A system-memory map, filled by the successful vmap.
        let addr = unsafe { map.__bindgen_anon_1.vaddr };
        // SAFETY: The dma-buf is live.
        let size = unsafe { (*buf.as_raw()).size };
        let r = NonNull::new(addr.cast::<u8>()).map(|a| f(a, size));
        // SAFETY: Balances the successful vmap above.
        unsafe { bindings::dma_buf_vunmap_unlocked(buf.as_raw(), &mut map) };
        r.ok_or(ENOMEM)
    }

    /// Waits for the files put from kernel threads, so that the dma-bufs
    /// dropped before are released.
    pub(crate) fn flush_releases() {
        // SAFETY: Flushing the delayed puts has no precondition.
        unsafe { bindings::flush_delayed_fput() };
    }
}

/// A minimal exporter over page blocks, for the KUnit suites of this
/// layer: it counts CPU accesses, attachments and releases, and maps in
/// the wrong direction or vmaps short when asked to.
#[cfg(ion_rs_kunit)]
pub(crate) mod test_exporter {
    use super::super::{page::Pages, scatterlist::SgTable, vmalloc::Caching};
    use super::*;
    use kernel::sync::atomic::{Atomic, Relaxed};

    /// Releases of any [`Obj`] so far.
    pub(crate) static RELEASED: Atomic<u32> = Atomic::new(0);
    /// CPU accesses (begin and end) of any [`Obj`] so far.
    pub(crate) static CPU_ACCESS: Atomic<u32> = Atomic::new(0);

    /// Page blocks, in order.
    pub(crate) type Runs = KVec<Pages>;

    /// The exported object.
    #[pin_data(PinnedDrop)]
    pub(crate) struct Obj {
        pub(crate) pages: Arc<Runs>,
        /// The first run alone, for a mapping shorter than the buffer.
        pub(crate) short: Arc<Runs>,
        pub(crate) attached: Atomic<u32>,
        /// Map in the other direction than asked.
        pub(crate) wrong_dir: Atomic<bool>,
        /// vmap only `short`.
        pub(crate) short_vmap: Atomic<bool>,
    }

    #[pinned_drop]
    impl PinnedDrop for Obj {
        fn drop(self: Pin<&mut Self>) {
            RELEASED.add(1, Relaxed);
        }
    }

    #[vtable]
    impl Exporter for Obj {
        type Pages = Arc<Runs>;

        fn exp_name(&self) -> &CStr {
            c"rust_kernel_test"
        }

        fn attach(&self, _a: &Arc<Attachment<Self>>) -> Result {
            self.attached.add(1, Relaxed);
            Ok(())
        }
        fn detach(&self, _a: &Arc<Attachment<Self>>) {
            self.attached.fetch_sub(1, Relaxed);
        }
        fn map<'a>(
            &self,
            dev: &'a Device<Bound>,
            _mapped: usize,
            dir: DataDirection,
        ) -> Result<MappedSgTable<'a, Arc<Runs>>> {
            let dir = match (self.wrong_dir.load(Relaxed), dir) {
                (true, DataDirection::ToDevice) => DataDirection::FromDevice,
                (true, _) => DataDirection::ToDevice,
                (false, d) => d,
            };
            SgTable::new(self.pages.clone())?
                .map(dev, dir, dma::no_attrs())
                .map_err(|(e, _)| e)
        }
        fn begin_cpu_access(&self, _dir: DataDirection, _v: Option<&VMap<Arc<Runs>>>) -> Result {
            CPU_ACCESS.add(1, Relaxed);
            Ok(())
        }
        fn end_cpu_access(&self, _dir: DataDirection, _v: Option<&VMap<Arc<Runs>>>) -> Result {
            CPU_ACCESS.add(1, Relaxed);
            Ok(())
        }
        fn vmap(&self) -> Result<VMap<Arc<Runs>>> {
            let pages = if self.short_vmap.load(Relaxed) {
                &self.short
            } else {
                &self.pages
            };
            VMap::new(pages.clone(), Caching::Cached)
        }
    }

    /// An object of two blocks (orders 1 and 0: three pages), to export.
    pub(crate) fn obj() -> Result<impl PinInit<Obj, Error>> {
        let mut runs = KVec::new();
        runs.push(
            Pages::alloc(1, super::super::page::Gfp::KERNEL)?,
            GFP_KERNEL,
        )?;
        runs.push(
            Pages::alloc(0, super::super::page::Gfp::KERNEL)?,
            GFP_KERNEL,
        )?;
        let mut short = KVec::new();
        short.push(
            Pages::alloc(0, super::super::page::Gfp::KERNEL)?,
            GFP_KERNEL,
        )?;
        let (pages, short) = (Arc::new(runs, GFP_KERNEL)?, Arc::new(short, GFP_KERNEL)?);
        Ok(try_pin_init!(Obj {
            pages,
            short,
            attached: Atomic::new(0),
            wrong_dir: Atomic::new(false),
            short_vmap: Atomic::new(false),
        }? Error))
    }
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_dma_buf_exporter)]
mod tests {
    use super::test_exporter::{obj, Obj, CPU_ACCESS, RELEASED};
    use super::testing::{begin_cpu_access, end_cpu_access, flush_releases, with_vmap, Importer};
    use super::*;
    use kernel::{faux, page::PAGE_SIZE, sync::atomic::Relaxed};

    fn export_obj() -> Result<ARef<DmaBuf<Obj>>> {
        let module = kernel::module::this_module::<crate::LocalModule>();
        export(
            obj()?,
            module,
            3 * PAGE_SIZE,
            kernel::fs::file::flags::O_RDWR,
        )
    }

    /// The generated vtable reaches the exporter through the dma-buf core:
    /// attach, map, CPU access, vmap, unmap, detach and release, each once;
    /// more than one mapping per attachment is the exporter's to allow. The
    /// buffer lives in the dma-buf and drops at its release.
    #[test]
    fn core_calls_reach_the_exporter() -> Result {
        let faux = faux::Registration::new(c"rust_kernel_dma_buf_test", None)?;
        let dev = dma::tests::masked(&faux)?;
        let released = RELEASED.load(Relaxed);
        let cpu = CPU_ACCESS.load(Relaxed);
        let buf = export_obj()?;
        let o = buf.exporter();
        assert_eq!(buf.exp_name(), c"rust_kernel_test");
        let bidi = DataDirection::Bidirectional;
        let mut seen = [false; 6];
        {
            let imp = Importer::attach(&buf, dev)?;
            let a = imp.attachment();
            seen[0] = core::ptr::eq(a.device(), &**dev) && o.attached.load(Relaxed) == 1;
            let m1 = imp.map(bidi)?;
            let m2 = imp.map(DataDirection::ToDevice)?;
            let mut raws = KVec::new();
            let n = a.with_mappings(|m| {
                let _ = raws.push(m.as_raw(), GFP_KERNEL);
            });
            seen[1] = n == 2 && raws.contains(&m1.as_raw()) && raws.contains(&m2.as_raw());
            begin_cpu_access(&buf, bidi)?;
            end_cpu_access(&buf, bidi)?;
            seen[2] = with_vmap(&buf, |_, size| size == 3 * PAGE_SIZE)?;
            imp.unmap(m1);
            seen[3] = a.with_mappings(|_| ()) == 1;
            // A detach with a mapping left undoes it.
            let _ = m2;
        }
        seen[4] = o.attached.load(Relaxed) == 0 && RELEASED.load(Relaxed) == released;
        drop(buf);
        flush_releases();
        seen[5] = RELEASED.load(Relaxed) - released == 1;
        drop(faux);
        assert_eq!(seen, [true; 6]);
        assert_eq!(CPU_ACCESS.load(Relaxed) - cpu, 2);
        Ok(())
    }

    /// What the layer refuses, each with the call that used to get through:
    /// a mapping in another direction than asked, a kernel mapping shorter
    /// than the dma-buf, and the unmap of a table of another attachment.
    #[test]
    fn layer_refuses_what_the_core_cannot_check() -> Result {
        let faux = faux::Registration::new(c"rust_kernel_dma_buf_test", None)?;
        let dev = dma::tests::masked(&faux)?;
        let buf = export_obj()?;
        let o = buf.exporter();
        let bidi = DataDirection::Bidirectional;
        let mut seen = [false; 5];
        {
            let (i1, i2) = (Importer::attach(&buf, dev)?, Importer::attach(&buf, dev)?);
            o.wrong_dir.store(true, Relaxed);
            seen[0] = i1.map(bidi).err() == Some(EINVAL) && !i1.attachment().is_mapped();
            o.wrong_dir.store(false, Relaxed);
            // Straight to the generated op: the core WARNs on a failed vmap.
            o.short_vmap.store(true, Relaxed);
            let mut map: bindings::iosys_map = pin_init::zeroed();
            // SAFETY: A live dma-buf of `Obj` with no kernel mapping yet, and
            // a map to fill, as the core calls it.
            let r = unsafe { Vtable::<Obj>::vmap(buf.as_raw(), &mut map) };
            seen[1] = r == EINVAL.to_errno();
            o.short_vmap.store(false, Relaxed);
            seen[2] = with_vmap(&buf, |_, _| ()).is_ok();
            // Unmapped through the layer below, not the core.
            let raw = i1.map(bidi)?.as_raw();
            let (a1, a2) = (i1.attachment(), i2.attachment());
            seen[3] = a2.unmap(o, raw) == Err(EINVAL) && a1.is_mapped();
            seen[4] = a1.unmap(o, raw).is_ok() && a1.unmap(o, raw) == Err(EINVAL);
        }
        drop(buf);
        flush_releases();
        drop(faux);
        assert_eq!(seen, [true; 5]);
        Ok(())
    }
}
