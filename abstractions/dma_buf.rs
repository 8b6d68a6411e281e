// SPDX-License-Identifier: GPL-2.0

//! DMA-buf exporters.
//!
//! C header: [`include/linux/dma-buf.h`](srctree/include/linux/dma-buf.h)
//!
//! An exporter implements [`Exporter`] for its buffer type; [`export`]
//! turns an `Arc` of a buffer into a dma-buf whose `struct dma_buf_ops`
//! is generated from the trait once, as a constant (as `drm::gem` does for
//! GEM objects). Every callback trampoline, with its safety argument, is
//! here; the exporter writes safe code.
//!
//! Ownership: the dma-buf's `priv` holds one reference to the buffer from
//! export until `release`, which the core calls once, after the last user
//! of the dma-buf is gone. Each importer's [`Attachment`] hangs off its
//! `struct dma_buf_attachment` (`priv`), from `attach` until `detach`. It
//! owns the importer's copy of the table, unmapped or mapped
//! ([`scatterlist`](super::scatterlist)), and a reference to the device.
//!
//! Lock order: the dma-buf core's reservation lock (held around map and
//! unmap) comes first; then the exporter's own locks; the lock of an
//! [`Attachment`] is the innermost. [`Exporter::map`] and
//! [`Exporter::unmap`] run under it and must not take the exporter's locks.

use super::{
    dma,
    scatterlist::{MapResult, MappedSgTable, Segments, SgTable},
};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings,
    device::Device,
    dma::DataDirection,
    error::from_err_ptr,
    ffi::{c_int, c_void},
    fs::{file::FileDescriptorReservation, File},
    mm::virt::VmaNew,
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{aref::ARef, Arc, ArcBorrow, Mutex},
    types::ForeignOwnable,
    ThisModule,
};

/// A buffer that can be exported as a dma-buf.
pub(crate) trait Exporter: Sized + Send + Sync + 'static {
    /// What the attachments' tables describe and keep alive (an `Arc` of
    /// the buffer, typically).
    type Pages: Segments + Unpin + 'static;

    /// The exporter name that the dma-buf reports (`exp_name` in fdinfo,
    /// debugfs and the BPF iterator). The core does not copy it: borrowed
    /// from `self`, it lives as long as the buffer, which the dma-buf keeps
    /// until release, after which the core does not read it.
    fn exp_name(&self) -> &CStr;

    /// A new attachment for `dev`: the table it gets, unmapped. The caller
    /// wraps it in an [`Attachment`] and hands that to
    /// [`Exporter::attached`].
    fn attach(this: ArcBorrow<'_, Self>, dev: &Device) -> Result<SgTable<Self::Pages>>;

    /// The attachment is set up; the exporter may keep a reference to it
    /// (to sync its mapping). An error undoes the attach.
    fn attached(&self, attachment: &Arc<Attachment<Self>>) -> Result;

    /// The importer detaches. The attachment's mapping, if it has one, is
    /// undone when the last reference to it goes.
    fn detach(&self, attachment: &Arc<Attachment<Self>>);

    /// Maps `table` for `dev` in `dir`, for the importer. On failure the
    /// table comes back with the error. Runs under the attachment's lock.
    fn map(
        &self,
        dev: &Device,
        table: SgTable<Self::Pages>,
        dir: DataDirection,
    ) -> MapResult<Self::Pages>;

    /// Undoes a mapping made by [`Exporter::map`] and gives the table back.
    /// Runs under the attachment's lock.
    fn unmap(&self, mapped: MappedSgTable<Self::Pages>) -> SgTable<Self::Pages> {
        mapped.unmap()
    }

    /// The CPU is about to access the buffer in `dir`.
    fn begin_cpu_access(&self, dir: DataDirection) -> Result;

    /// The CPU is done accessing the buffer in `dir`.
    fn end_cpu_access(&self, dir: DataDirection) -> Result;

    /// Maps the buffer into a VMA being set up, whose size and offset the
    /// core has checked against the buffer's size.
    fn mmap(&self, vma: &VmaNew) -> Result;

    /// A kernel mapping of the whole buffer, counted: each call is
    /// balanced by one [`Exporter::vunmap`].
    fn vmap(&self) -> Result<NonNull<c_void>>;

    /// Drops one user of the kernel mapping.
    fn vunmap(&self);
}

/// The state of an attachment's table.
enum Table<P: Segments> {
    Unmapped(SgTable<P>),
    Mapped(MappedSgTable<P>),
    /// Between a failed remap and its recovery; never seen outside a call.
    Gone,
}

/// One importer's attachment to a buffer of `T`.
///
/// # Invariants
///
/// `dev` is the importer's device, referenced for as long as this value
/// lives.
#[pin_data]
pub(crate) struct Attachment<T: Exporter> {
    dev: ARef<Device>,
    #[pin]
    table: Mutex<Table<T::Pages>>,
}

impl<T: Exporter> Attachment<T> {
    /// Attaches `dev` to `obj`, as the core's `attach` does: the exporter
    /// makes the table ([`Exporter::attach`]) and is told of the new
    /// attachment ([`Exporter::attached`]).
    pub(crate) fn new(obj: ArcBorrow<'_, T>, dev: &Device) -> Result<Arc<Self>> {
        let table = T::attach(obj, dev)?;
        let a = Arc::pin_init(
            pin_init!(Self {
                dev: dev.into(),
                table <- new_mutex!(Table::Unmapped(table)),
            }),
            GFP_KERNEL,
        )?;
        obj.attached(&a)?;
        Ok(a)
    }

    /// Detaches from `obj`, as the core's `detach` does.
    pub(crate) fn detach(self: Arc<Self>, obj: &T) {
        obj.detach(&self);
    }

    /// Maps the attachment's table for its device in `dir`
    /// ([`Exporter::map`]), as the core's `map_dma_buf` does; returns the C
    /// table, valid until [`Attachment::unmap`] or the attachment's drop.
    /// A mapped attachment is `EBUSY`.
    pub(crate) fn map(&self, obj: &T, dir: DataDirection) -> Result<*mut bindings::sg_table> {
        let mut table = self.table.lock();
        let unmapped = match core::mem::replace(&mut *table, Table::Gone) {
            Table::Unmapped(t) => t,
            other => {
                *table = other;
                return Err(EBUSY);
            }
        };
        match obj.map(&self.dev, unmapped, dir) {
            Ok(m) => {
                let raw = m.as_raw();
                // The table stays where it is (boxed) until it is unmapped.
                *table = Table::Mapped(m);
                Ok(raw)
            }
            Err((e, t)) => {
                *table = Table::Unmapped(t);
                Err(e)
            }
        }
    }

    /// Undoes the mapping of `sgt` ([`Exporter::unmap`]), as the core's
    /// `unmap_dma_buf` does. A table that is not this attachment's mapping
    /// is `EINVAL`, and nothing changes.
    pub(crate) fn unmap(&self, obj: &T, sgt: *mut bindings::sg_table) -> Result {
        let mut table = self.table.lock();
        match &*table {
            Table::Mapped(m) if m.as_raw() == sgt => {}
            _ => return Err(EINVAL),
        }
        if let Table::Mapped(m) = core::mem::replace(&mut *table, Table::Gone) {
            *table = Table::Unmapped(obj.unmap(m));
        }
        Ok(())
    }

    /// The importer's device.
    pub(crate) fn device(&self) -> &Device {
        &self.dev
    }

    /// Calls `f` with the attachment's mapping if it is mapped, under its
    /// lock.
    pub(crate) fn with_mapping<R>(
        &self,
        f: impl FnOnce(&MappedSgTable<T::Pages>) -> R,
    ) -> Option<R> {
        match &*self.table.lock() {
            Table::Mapped(m) => Some(f(m)),
            _ => None,
        }
    }

    /// The attachment state of a C attachment, for tests that drive the
    /// dma-buf core directly.
    ///
    /// # Safety
    ///
    /// `attach` must be an attachment set up by the generated `attach` of
    /// `T` and not yet detached, for the returned lifetime.
    #[cfg(CONFIG_KUNIT = "y")]
    unsafe fn borrow_raw<'a>(attach: *mut bindings::dma_buf_attachment) -> ArcBorrow<'a, Self> {
        // SAFETY: By the caller.
        unsafe { Vtable::<T>::attachment(attach) }
    }

    /// Whether the attachment is mapped.
    pub(crate) fn is_mapped(&self) -> bool {
        self.with_mapping(|_| ()).is_some()
    }
}

/// A dma-buf exported from a `T`, holding one reference (its file's).
///
/// # Invariants
///
/// `raw` is a live dma-buf exported by [`export`] for a `T`, and this value
/// owns one reference to it, put on drop unless handed on.
pub(crate) struct DmaBuf<T: Exporter> {
    raw: NonNull<bindings::dma_buf>,
    _t: PhantomData<T>,
}

impl<T: Exporter> DmaBuf<T> {
    /// Installs the dma-buf's file at the reserved fd; the reference goes
    /// to the fd table.
    pub(crate) fn install(self, fd: FileDescriptorReservation) {
        let raw = self.into_raw();
        // SAFETY: `raw` is live: we still own its reference.
        let file = unsafe { (*raw).file };
        // SAFETY: A dma-buf's reference is its file's reference, which we
        // own and pass on here (`into_raw` keeps drop from putting it). A
        // new file has no `fdget_pos` users.
        let file: ARef<File> = unsafe { ARef::from_raw(NonNull::from(File::from_raw_file(file))) };
        fd.fd_install(file);
    }

    /// Hands the reference to the caller, as a C `struct dma_buf *` (the
    /// dma-heap core's `allocate` returns it so).
    pub(crate) fn into_raw(self) -> *mut bindings::dma_buf {
        let p = self.raw.as_ptr();
        core::mem::forget(self);
        p
    }

    /// The exporter name that the dma-buf reports (`exp_name`).
    pub(crate) fn exp_name(&self) -> &CStr {
        // SAFETY: The dma-buf is live (invariant); `exp_name` is the
        // buffer's ([`Exporter::exp_name`]), alive until release.
        unsafe { CStr::from_char_ptr((*self.raw.as_ptr()).exp_name) }
    }
}

impl<T: Exporter> Drop for DmaBuf<T> {
    fn drop(&mut self) {
        // SAFETY: We own one reference (invariant).
        unsafe { bindings::dma_buf_put(self.raw.as_ptr()) };
    }
}

/// Exports `obj` as a new dma-buf of `size` bytes, named by
/// [`Exporter::exp_name`], whose
/// file gets `file_flags` (the access mode, and `O_CLOEXEC`). `module`
/// is the exporter's: the core keeps it referenced while the dma-buf lives.
pub(crate) fn export<T: Exporter>(
    obj: Arc<T>,
    module: &'static ThisModule,
    size: usize,
    file_flags: u32,
) -> Result<DmaBuf<T>> {
    let exp_name = obj.exp_name().as_char_ptr();
    let private = obj.into_foreign();
    let info = bindings::dma_buf_export_info {
        // The name lives in `obj` (or what it owns), which `priv` keeps
        // until release.
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
    match res.ok().and_then(NonNull::new) {
        // INVARIANT: A new dma-buf of `T`, one reference.
        Some(raw) => Ok(DmaBuf {
            raw,
            _t: PhantomData,
        }),
        None => {
            // SAFETY: The export failed: the core kept nothing of `private`.
            drop(unsafe { Arc::<T>::from_foreign(private) });
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
        begin_cpu_access: Some(Self::begin_cpu_access),
        end_cpu_access: Some(Self::end_cpu_access),
        mmap: Some(Self::mmap),
        vmap: Some(Self::vmap),
        vunmap: Some(Self::vunmap),
        ..pin_init::zeroed()
    };

    /// The buffer behind a dma-buf.
    ///
    /// # Safety
    ///
    /// `dmabuf` must be a dma-buf exported by [`export`] for `T` and not yet
    /// released.
    unsafe fn obj<'a>(dmabuf: *mut bindings::dma_buf) -> ArcBorrow<'a, T> {
        // SAFETY: `priv` is the `Arc<T>` from `export`, kept until release.
        unsafe { Arc::<T>::borrow((*dmabuf).priv_) }
    }

    /// The attachment state behind an attachment.
    ///
    /// # Safety
    ///
    /// `attach` must be an attachment set up by [`Self::attach`] and not yet
    /// detached.
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
        a.detach(&*obj);
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
        match dma::direction_from_raw(dir).and_then(|d| a.map(&*obj, d)) {
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
        let _ = a.unmap(&*obj, sgt);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, once, after the last user.
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: The reference stored by `export`, given back once.
        drop(unsafe { Arc::<T>::from_foreign((*dmabuf).priv_) });
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, on a live dma-buf of ours.
    unsafe extern "C" fn begin_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: By the caller.
        let obj = unsafe { Self::obj(dmabuf) };
        errno(dma::direction_from_raw(dir).and_then(|d| obj.begin_cpu_access(d)))
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, on a live dma-buf of ours.
    unsafe extern "C" fn end_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: By the caller.
        let obj = unsafe { Self::obj(dmabuf) };
        errno(dma::direction_from_raw(dir).and_then(|d| obj.end_cpu_access(d)))
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
    /// map to fill.
    unsafe extern "C" fn vmap(
        dmabuf: *mut bindings::dma_buf,
        map: *mut bindings::iosys_map,
    ) -> c_int {
        // SAFETY: By the caller.
        let obj = unsafe { Self::obj(dmabuf) };
        match obj.vmap() {
            Ok(vaddr) => {
                // SAFETY: `map` is the caller's to fill; system memory.
                unsafe {
                    (*map).__bindgen_anon_1.vaddr = vaddr.as_ptr();
                    (*map).is_iomem = false;
                }
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core only, once per successful vmap.
    unsafe extern "C" fn vunmap(dmabuf: *mut bindings::dma_buf, _map: *mut bindings::iosys_map) {
        // SAFETY: By the caller.
        unsafe { Self::obj(dmabuf) }.vunmap();
    }
}

/// A minimal exporter over page blocks, for the KUnit suites of this
/// layer: it counts CPU accesses, attachments and releases.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) mod test_exporter {
    use super::super::page::Pages;
    use super::*;
    use kernel::sync::atomic::{Atomic, Relaxed};

    /// Releases of any [`Obj`] so far.
    pub(crate) static RELEASED: Atomic<u32> = Atomic::new(0);
    /// CPU accesses (begin and end) of any [`Obj`] so far.
    pub(crate) static CPU_ACCESS: Atomic<u32> = Atomic::new(0);

    /// Page blocks, in order.
    pub(crate) type Runs = KVec<Pages>;

    /// The exported object.
    pub(crate) struct Obj {
        pub(crate) pages: Arc<Runs>,
        pub(crate) attached: Atomic<u32>,
    }

    impl Drop for Obj {
        fn drop(&mut self) {
            RELEASED.add(1, Relaxed);
        }
    }

    impl Exporter for Obj {
        type Pages = Arc<Runs>;

        fn exp_name(&self) -> &CStr {
            c"rust_kernel_test"
        }

        fn attach(this: ArcBorrow<'_, Self>, _dev: &Device) -> Result<SgTable<Arc<Runs>>> {
            SgTable::new(this.pages.clone())
        }
        fn attached(&self, _a: &Arc<Attachment<Self>>) -> Result {
            self.attached.add(1, Relaxed);
            Ok(())
        }
        fn detach(&self, _a: &Arc<Attachment<Self>>) {
            self.attached.fetch_sub(1, Relaxed);
        }
        fn map(
            &self,
            dev: &Device,
            table: SgTable<Arc<Runs>>,
            dir: DataDirection,
        ) -> MapResult<Arc<Runs>> {
            table.map(dev, dir, dma::no_attrs())
        }
        fn begin_cpu_access(&self, _dir: DataDirection) -> Result {
            CPU_ACCESS.add(1, Relaxed);
            Ok(())
        }
        fn end_cpu_access(&self, _dir: DataDirection) -> Result {
            CPU_ACCESS.add(1, Relaxed);
            Ok(())
        }
        fn mmap(&self, _vma: &VmaNew) -> Result {
            Err(ENODEV)
        }
        fn vmap(&self) -> Result<NonNull<c_void>> {
            Err(ENOMEM)
        }
        fn vunmap(&self) {}
    }
}

#[kunit_tests(rust_kernel_dma_buf_exporter)]
mod tests {
    use super::super::{
        page::{Gfp, Pages},
        scatterlist::SyncFor,
    };
    use super::test_exporter::{Obj, CPU_ACCESS, RELEASED};
    use super::*;
    use kernel::{
        faux,
        page::PAGE_SIZE,
        sync::atomic::{Atomic, Relaxed},
    };

    /// The generated vtable reaches the exporter through the dma-buf core:
    /// attach, map, CPU access, unmap, detach and release, each once.
    #[test]
    fn core_calls_reach_the_exporter() -> Result {
        let faux = faux::Registration::new(c"rust_kernel_dma_buf_test", None)?;
        let dev = dma::tests::masked(&faux)?;
        let mut runs = KVec::new();
        runs.push(Pages::alloc(1, Gfp::KERNEL)?, GFP_KERNEL)?;
        let obj = Arc::new(
            Obj {
                pages: Arc::new(runs, GFP_KERNEL)?,
                attached: Atomic::new(0),
            },
            GFP_KERNEL,
        )?;
        let released = RELEASED.load(Relaxed);
        let cpu = CPU_ACCESS.load(Relaxed);
        let module = kernel::module::this_module::<crate::LocalModule>();
        let buf = export(
            obj.clone(),
            module,
            2 * PAGE_SIZE,
            kernel::fs::file::flags::O_RDWR,
        )?;
        assert_eq!(buf.exp_name(), c"rust_kernel_test");
        let raw = buf.raw.as_ptr();
        let bidi = bindings::dma_data_direction::from(DataDirection::Bidirectional);
        // SAFETY: `raw` is a live dma-buf (held by `buf`), `dev` a live
        // device; each call is balanced below, in the core's order.
        let seen = unsafe {
            let att = from_err_ptr(bindings::dma_buf_attach(raw, dma::raw(dev)))?;
            let a = Attachment::<Obj>::borrow_raw(att);
            let same_dev = core::ptr::eq(a.device(), dev);
            let sgt = from_err_ptr(bindings::dma_buf_map_attachment_unlocked(att, bidi))?;
            let mapped = a.is_mapped() && a.with_mapping(|m| m.as_raw() == sgt) == Some(true);
            let busy = a.map(&obj, DataDirection::Bidirectional).err() == Some(EBUSY);
            a.with_mapping(|m| m.sync(SyncFor::Cpu, DataDirection::Bidirectional));
            bindings::dma_buf_begin_cpu_access(raw, bidi);
            bindings::dma_buf_end_cpu_access(raw, bidi);
            bindings::dma_buf_unmap_attachment_unlocked(att, sgt, bidi);
            let unmapped = !a.is_mapped();
            let attached = obj.attached.load(Relaxed);
            bindings::dma_buf_detach(raw, att);
            [
                same_dev,
                mapped,
                busy,
                unmapped,
                attached == 1,
                obj.attached.load(Relaxed) == 0,
            ]
        };
        drop(buf);
        drop(obj);
        // The file's last reference is put from a kernel thread: wait for it.
        // SAFETY: Flushing the delayed puts has no precondition.
        unsafe { bindings::flush_delayed_fput() };
        assert_eq!(seen, [true; 6]);
        assert_eq!(CPU_ACCESS.load(Relaxed) - cpu, 2);
        assert_eq!(RELEASED.load(Relaxed) - released, 1);
        Ok(())
    }
}
