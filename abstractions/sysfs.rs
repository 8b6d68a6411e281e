// SPDX-License-Identifier: GPL-2.0

//! Read-only sysfs files of a device (`device_create_file`).
//!
//! C header: [`include/linux/device.h`](srctree/include/linux/device.h)
//!
//! A [`DeviceFile`] is a `struct device_attribute` in memory of its own,
//! with the value that its `show` reads. sysfs calls `show` only between
//! `device_create_file` and `device_remove_file`, and the removal waits for
//! a `show` that is running, so the value outlives every call.

use super::{dma::raw, helpers};
use core::{fmt, pin::Pin};
use kernel::{
    bindings, container_of,
    device::{Bound, Device},
    error::to_result,
    ffi::c_char,
    fmt as kfmt,
    prelude::*,
    str::CString,
    sync::aref::ARef,
    types::Opaque,
};

/// What a read-only sysfs file shows.
pub(crate) trait Show: Send + Sync {
    /// Writes the file's content. sysfs shows at most a page of it: what
    /// goes beyond is cut off.
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A read-only (0444) file `name` in the sysfs directory of a device,
/// whose content `data` writes, for as long as the value lives.
///
/// # Invariants
///
/// `attr` is registered with `device_create_file` for `dev`, with
/// [`show_file::<T>`] as its `show`, from the end of initialisation until
/// drop.
#[pin_data(PinnedDrop)]
pub(crate) struct DeviceFile<T: Show> {
    dev: ARef<Device>,
    data: T,
    #[pin]
    attr: Opaque<bindings::device_attribute>,
}

// SAFETY: `attr` is only touched by sysfs, which serialises its
// registration against `show`; `data` is `Send`.
unsafe impl<T: Show> Send for DeviceFile<T> {}
// SAFETY: `show` reads `data` through `&T`, and `T: Sync`.
unsafe impl<T: Show> Sync for DeviceFile<T> {}

impl<T: Show> DeviceFile<T> {
    /// Adds the file `name` to `dev`'s directory. `dev` is bound, so its
    /// directory exists. The file goes with the value, which holds a
    /// reference to the device for the removal.
    pub(crate) fn new(
        dev: &Device<Bound>,
        name: &'static CStr,
        data: T,
    ) -> impl PinInit<Self, Error> {
        let dev: ARef<Device> = (&**dev).into();
        let raw_dev = raw(&dev);
        try_pin_init!(Self {
            dev,
            data,
            // Last: `show` may run as soon as the file exists, and reads
            // `data`, which is set by then.
            attr <- Opaque::try_ffi_init(move |slot: *mut bindings::device_attribute| {
                // SAFETY: `slot` is valid for writes (the initialiser's
                // contract); a zeroed `device_attribute` is valid.
                unsafe { slot.write(core::mem::zeroed()) };
                // SAFETY: As above; the name is static, and the fields are
                // set before sysfs can see the attribute.
                unsafe {
                    (*slot).attr.name = name.as_char_ptr();
                    (*slot).attr.mode = 0o444;
                    (*slot).__bindgen_anon_1.show = Some(show_file::<T>);
                    helpers::rust_helper_sysfs_attr_init(&raw mut (*slot).attr);
                }
                // SAFETY: `raw_dev` is live: `self.dev`, set by now, holds a
                // reference to it. `slot` is pinned and, with the rest of
                // `self`, lives until drop removes the file.
                to_result(unsafe { bindings::device_create_file(raw_dev, slot) })
            }),
        })
    }
}

#[pinned_drop]
impl<T: Show> PinnedDrop for DeviceFile<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The attribute was registered for `dev` (invariant); the
        // removal waits for a running `show`, and none starts after it.
        unsafe { bindings::device_remove_file(raw(&self.dev), self.attr.get()) };
    }
}

/// The `show` of a [`DeviceFile<T>`].
///
/// # Safety
///
/// `attr` is the `attr` of a live, registered `DeviceFile<T>`, and `buf`
/// is valid for writes of a page (sysfs's contract).
unsafe extern "C" fn show_file<T: Show>(
    _dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut c_char,
) -> isize {
    struct Text<'a, T: Show>(&'a T);
    impl<T: Show> kfmt::Display for Text<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.show(f)
        }
    }
    // SAFETY: `attr` is the `attr` field of a live `DeviceFile<T>`
    // (caller); `Opaque<T>` has the layout of `T`.
    let this = unsafe {
        &*container_of!(
            attr.cast::<Opaque<bindings::device_attribute>>(),
            DeviceFile<T>,
            attr
        )
    };
    let text = match CString::try_from_fmt(fmt!("{}", Text(&this.data))) {
        Ok(text) => text,
        Err(e) => return e.to_errno() as isize,
    };
    let bytes = text.to_bytes();
    let n = bytes.len().min(kernel::page::PAGE_SIZE - 1);
    // SAFETY: `buf` holds a page (caller), and `n` is less.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n) };
    n as isize
}

#[cfg(ion_rs_kunit)]
#[kunit_tests(rust_kernel_sysfs)]
mod tests {
    use super::*;
    use crate::abstractions::dma::OwnedDevice;
    use kernel::{dma::DmaMask, page::PAGE_SIZE};

    /// Shows `n` bytes: a line `hello`, then dots.
    struct Text(usize);

    impl Show for Text {
        fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("hello\n")?;
            for _ in 6..self.0 {
                f.write_str(".")?;
            }
            Ok(())
        }
    }

    /// Whether `dev`'s sysfs directory has an entry `name`. (A KUnit case
    /// runs in a kernel thread, whose root need not see `/sys`.)
    fn has_file(dev: &Device, name: &CStr) -> bool {
        // SAFETY: `dev` is live (the reference) and registered, so its
        // kobject has a directory; the lookup takes a reference on what it
        // finds, which is put here.
        unsafe {
            let kn = bindings::kernfs_find_and_get_ns(
                (*raw(dev)).kobj.sd,
                name.as_char_ptr(),
                core::ptr::null(),
            );
            if kn.is_null() {
                return false;
            }
            bindings::kernfs_put(kn);
        }
        true
    }

    /// What sysfs reads from `file`: its `show` into a page.
    fn shown<T: Show>(file: &DeviceFile<T>) -> Result<KVec<u8>> {
        let mut page = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
        // SAFETY: `file` is live and registered; `page` holds a page.
        let n =
            unsafe { show_file::<T>(raw(&file.dev), file.attr.get(), page.as_mut_ptr().cast()) };
        page.truncate(usize::try_from(n).map_err(|_| EINVAL)?);
        Ok(page)
    }

    /// The file is in the device's directory while the value lives, and
    /// shows what the value writes.
    #[test]
    fn a_file_shows_its_value_and_goes_with_it() -> Result {
        let dev = OwnedDevice::new(c"rust_kernel_sysfs_test", DmaMask::new::<32>())?;
        assert!(!has_file(dev.device(), c"hello"));
        let file = KBox::pin_init(DeviceFile::new(dev.device(), c"hello", Text(6)), GFP_KERNEL)?;
        assert!(has_file(dev.device(), c"hello"));
        assert_eq!(&shown(&file)?[..], b"hello\n");
        drop(file);
        assert!(!has_file(dev.device(), c"hello"));
        Ok(())
    }

    /// What goes past a page is cut off: a page less its last byte.
    #[test]
    fn a_file_shows_at_most_a_page() -> Result {
        let dev = OwnedDevice::new(c"rust_kernel_sysfs_test", DmaMask::new::<32>())?;
        let file = KBox::pin_init(
            DeviceFile::new(dev.device(), c"long", Text(PAGE_SIZE + 100)),
            GFP_KERNEL,
        )?;
        let text = shown(&file)?;
        assert_eq!(text.len(), PAGE_SIZE - 1);
        assert_eq!(&text[..6], b"hello\n");
        Ok(())
    }
}
