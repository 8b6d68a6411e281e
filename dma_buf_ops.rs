// SPDX-License-Identifier: GPL-2.0

//! The dma-buf exporter glue: the C `struct dma_buf_ops` and its
//! trampolines. This is the only place where rust-ion handles `struct
//! dma_buf`; each trampoline turns its raw arguments into a `&Buffer` and
//! calls the safe logic in `buffer.rs`.
//!
//! Ownership: `export` turns one `Arc<Buffer>` reference into the dma-buf's
//! `priv`. The dma-buf core calls `release` exactly once, after the last
//! reference to the dma-buf (fd, mapping or importer) is gone, and that
//! drops the `Arc`. Every other callback runs between export and release.

use crate::buffer::{Buffer, Direction, SyncFor};
use core::ptr::NonNull;
use kernel::{
    bindings,
    error::from_err_ptr,
    ffi::c_int,
    fs::{file::FileDescriptorReservation, File},
    prelude::*,
    sync::{aref::ARef, Arc},
};

/// A dma-buf that rust-ion exported and still holds the creator's reference
/// to.
///
/// # Invariants
///
/// `dmabuf` is a live dma-buf whose `priv` is an `Arc<Buffer>` from
/// [`export`], and this value owns one reference to it (its file's).
pub(crate) struct Exported {
    dmabuf: NonNull<bindings::dma_buf>,
}

impl Exported {
    /// Hands the reference to the fd table at the reserved fd.
    pub(crate) fn install(self, fd: FileDescriptorReservation) {
        let dmabuf = self.into_raw();
        // SAFETY: `dmabuf` is live: we still own its reference.
        let file = unsafe { (*dmabuf).file };
        // SAFETY: A dma-buf's reference is its file's reference, which we own
        // (invariant) and pass on here; `into_raw` above keeps `Drop` from
        // putting it. A new file has no `fdget_pos` users.
        let file: ARef<File> = unsafe { ARef::from_raw(NonNull::from(File::from_raw_file(file))) };
        fd.fd_install(file);
    }

    /// Hands the reference to the caller, as the dma-heap core's
    /// `allocate` returns it (the core installs the fd, or puts it).
    pub(crate) fn into_raw(self) -> *mut bindings::dma_buf {
        let p = self.dmabuf.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl Drop for Exported {
    fn drop(&mut self) {
        // SAFETY: We own one reference (invariant).
        unsafe { bindings::dma_buf_put(self.dmabuf.as_ptr()) };
    }
}

/// Exports `buffer` as a new dma-buf whose file has `file_flags` (the
/// access mode, and `O_CLOEXEC` as the fd will have it).
pub(crate) fn export(buffer: Arc<Buffer>, file_flags: u32) -> Result<Exported> {
    let size = buffer.len();
    let private = Arc::into_raw(buffer);
    let info = bindings::dma_buf_export_info {
        exp_name: c"ion".as_char_ptr(),
        owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
        ops: &ION_DMA_BUF_OPS,
        size,
        flags: file_flags as c_int,
        resv: core::ptr::null_mut(),
        priv_: private.cast_mut().cast(),
    };
    // SAFETY: `info` is fully initialised; the core keeps `owner` referenced
    // for the dma-buf's life, so the ops outlive every call into them.
    let res = from_err_ptr(unsafe { bindings::dma_buf_export(&info) });
    match res.ok().and_then(NonNull::new) {
        // INVARIANT: a new dma-buf, `priv` set from `private`, one reference.
        Some(dmabuf) => Ok(Exported { dmabuf }),
        None => {
            // SAFETY: The export failed, so `private` was not handed over.
            drop(unsafe { Arc::from_raw(private) });
            Err(res.err().unwrap_or(ENOMEM))
        }
    }
}

/// The buffer behind a dma-buf of ours.
///
/// # Safety
///
/// `dmabuf` must be a dma-buf from [`export`] that has not been released.
unsafe fn buffer<'a>(dmabuf: *mut bindings::dma_buf) -> &'a Buffer {
    // SAFETY: `priv` is the `Arc<Buffer>` from `export`, kept until release.
    unsafe { &*(*dmabuf).priv_.cast::<Buffer>() }
}

/// The buffer behind an attachment to a dma-buf of ours.
///
/// # Safety
///
/// `attach` must be a live attachment to a dma-buf from [`export`].
unsafe fn attachment_buffer<'a>(attach: *mut bindings::dma_buf_attachment) -> &'a Buffer {
    // SAFETY: An attachment's `dmabuf` outlives it (caller).
    unsafe { buffer((*attach).dmabuf) }
}

fn errno(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `dma_buf_ops.attach`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn attach(
    dmabuf: *mut bindings::dma_buf,
    attach: *mut bindings::dma_buf_attachment,
) -> c_int {
    // SAFETY: The core calls attach on a live dma-buf of ours.
    let buf = unsafe { buffer(dmabuf) };
    // SAFETY: `attach` is being set up by the core and is valid.
    let Some(dev) = NonNull::new(unsafe { (*attach).dev }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: The importer keeps its device alive until it detaches, and the
    // core calls `detach` with this same attachment.
    errno(unsafe { buf.attach(attach as usize, dev) })
}

/// `dma_buf_ops.detach`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn detach(
    dmabuf: *mut bindings::dma_buf,
    attach: *mut bindings::dma_buf_attachment,
) {
    // SAFETY: The core calls detach on a live dma-buf of ours.
    unsafe { buffer(dmabuf) }.detach(attach as usize);
}

/// `dma_buf_ops.map_dma_buf`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn map_dma_buf(
    attach: *mut bindings::dma_buf_attachment,
    dir: bindings::dma_data_direction,
) -> *mut bindings::sg_table {
    // SAFETY: The core maps live attachments only.
    let buf = unsafe { attachment_buffer(attach) };
    let res = Direction::from_raw(dir).and_then(|d| buf.map(attach as usize, d, buf.map_attrs(0)));
    match res {
        Ok(t) => t,
        Err(e) => e.to_ptr(),
    }
}

/// `dma_buf_ops.unmap_dma_buf`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn unmap_dma_buf(
    attach: *mut bindings::dma_buf_attachment,
    table: *mut bindings::sg_table,
    _dir: bindings::dma_data_direction,
) {
    // SAFETY: The core unmaps live attachments only.
    let buf = unsafe { attachment_buffer(attach) };
    // The mapping is undone with the direction and attributes it was made
    // with; an unmap of a table that is not mapped is refused quietly.
    let _ = buf.unmap(attach as usize, table);
}

/// `dma_buf_ops.release`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
    // SAFETY: The core releases each dma-buf once, after its last user; the
    // `Arc` reference that `export` stored in `priv` is given back here.
    drop(unsafe { Arc::from_raw((*dmabuf).priv_.cast::<Buffer>()) });
}

/// The CPU-access trampolines' common body.
///
/// # Safety
///
/// `dmabuf` is a dma-buf from [`export`] that is not released.
unsafe fn cpu_access(
    dmabuf: *mut bindings::dma_buf,
    dir: bindings::dma_data_direction,
    to: SyncFor,
) -> c_int {
    // SAFETY: By the caller.
    let buf = unsafe { buffer(dmabuf) };
    errno(Direction::from_raw(dir).map(|d| buf.cpu_access(to, d)))
}

/// `dma_buf_ops.begin_cpu_access`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn begin_cpu_access(
    dmabuf: *mut bindings::dma_buf,
    dir: bindings::dma_data_direction,
) -> c_int {
    // SAFETY: The core passes a live dma-buf from `export` (see above).
    unsafe { cpu_access(dmabuf, dir, SyncFor::Cpu) }
}

/// `dma_buf_ops.end_cpu_access`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn end_cpu_access(
    dmabuf: *mut bindings::dma_buf,
    dir: bindings::dma_data_direction,
) -> c_int {
    // SAFETY: The core passes a live dma-buf from `export` (see above).
    unsafe { cpu_access(dmabuf, dir, SyncFor::Device) }
}

/// `dma_buf_ops.mmap`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn mmap(
    dmabuf: *mut bindings::dma_buf,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: The core calls mmap on a live dma-buf of ours, with a VMA
    // being set up whose offset and size it checked against the buffer.
    errno(unsafe { buffer(dmabuf).mmap(vma) })
}

/// `dma_buf_ops.vmap`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn vmap(dmabuf: *mut bindings::dma_buf, map: *mut bindings::iosys_map) -> c_int {
    // SAFETY: The core calls vmap on a live dma-buf of ours.
    let buf = unsafe { buffer(dmabuf) };
    match buf.vmap() {
        Ok(vaddr) => {
            // SAFETY: `map` is the caller's to fill; a system-memory mapping.
            unsafe {
                (*map).__bindgen_anon_1.vaddr = vaddr.as_ptr();
                (*map).is_iomem = false;
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `dma_buf_ops.vunmap`.
///
/// # Safety
///
/// Called by the dma-buf core only, on a dma-buf from [`export`] that is
/// not released, with the arguments its documentation describes.
unsafe extern "C" fn vunmap(dmabuf: *mut bindings::dma_buf, _map: *mut bindings::iosys_map) {
    // SAFETY: The core calls vunmap on a live dma-buf of ours, once per vmap.
    unsafe { buffer(dmabuf) }.vunmap();
}

const ION_DMA_BUF_OPS: bindings::dma_buf_ops = bindings::dma_buf_ops {
    attach: Some(attach),
    detach: Some(detach),
    map_dma_buf: Some(map_dma_buf),
    unmap_dma_buf: Some(unmap_dma_buf),
    release: Some(release),
    begin_cpu_access: Some(begin_cpu_access),
    end_cpu_access: Some(end_cpu_access),
    mmap: Some(mmap),
    vmap: Some(vmap),
    vunmap: Some(vunmap),
    ..pin_init::zeroed()
};
