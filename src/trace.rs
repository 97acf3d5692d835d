//! Events for the host's `tracing` setup, when the `tracing` feature is
//! on; nothing at all otherwise. The core never emits any.

/// An `info` event (nothing without the `tracing` feature).
macro_rules! info {
    ($($t:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::info!(target: "knowngood", $($t)*);
        }
    };
}

/// A `warn` event (nothing without the `tracing` feature).
macro_rules! warning {
    ($($t:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::warn!(target: "knowngood", $($t)*);
        }
    };
}

/// A `debug` event (nothing without the `tracing` feature).
macro_rules! debug {
    ($($t:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::debug!(target: "knowngood", $($t)*);
        }
    };
}

pub(crate) use {debug, info, warning};
