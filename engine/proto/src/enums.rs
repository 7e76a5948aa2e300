//! The one-byte enums that travel on the wire, with engine-core's own value tables.

use engine_core::{
    AccountStatus, BalanceReason, CancelReason, CommandKind, HoldingsReason, InstrumentStatus, OrderType, Product,
    RejectReason, Side, Validity,
};

/// An enum encoded as one byte. Decoding accepts only the enum's listed values.
pub trait WireEnum: Copy {
    fn from_wire(value: u8) -> Option<Self>;
    fn to_wire(self) -> u8;
}

macro_rules! wire_enums {
    ($($name:ty),+ $(,)?) => {$(
        impl WireEnum for $name {
            #[inline]
            fn from_wire(value: u8) -> Option<Self> {
                <$name>::from_u8(value)
            }
            #[inline]
            fn to_wire(self) -> u8 {
                self.as_u8()
            }
        }
    )+};
}

wire_enums!(
    Side,
    OrderType,
    Validity,
    Product,
    AccountStatus,
    InstrumentStatus,
    CommandKind,
    RejectReason,
    CancelReason,
    BalanceReason,
    HoldingsReason,
);
