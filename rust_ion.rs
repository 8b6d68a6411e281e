// SPDX-License-Identifier: GPL-2.0

//! rust-ion: the Ion memory allocator, in Rust.

use kernel::{
    c_str,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

module! {
    type: IonModule,
    name: "ion_rs",
    authors: ["rust-ion developers"],
    description: "Ion memory allocator",
    license: "GPL",
}

#[pin_data]
struct IonModule {
    #[pin]
    _miscdev: MiscDeviceRegistration<IonDev>,
}

impl kernel::InPlaceModule for IonModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let options = MiscDeviceOptions {
            name: c_str!("ion"),
        };
        try_pin_init!(Self {
            _miscdev <- MiscDeviceRegistration::register(options),
        })
    }
}

struct IonDev;

#[vtable]
impl MiscDevice for IonDev {
    type Ptr = KBox<Self>;

    fn open(_file: &kernel::fs::File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(IonDev, GFP_KERNEL)?)
    }
}
