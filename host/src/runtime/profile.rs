//! What kind of guest a component is, read from the custom section
//! `wasm-gateway python build` writes: a Python component gets the empty
//! filesystem and trapping sockets CPython's imports need.

/// The custom section that marks a component built by `python build`. Its
/// content is the [`Profile`] name.
pub const PROFILE_SECTION: &str = "wasm-gateway:profile";

/// What kind of guest a component is, as far as linking goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Anything else: every import must be granted.
    #[default]
    Plain,
    /// Built by `python build`. CPython imports `wasi:filesystem` and
    /// `wasi:sockets` whether the application uses them or not; it gets a
    /// filesystem with nothing in it (unless the operator grants `dirs`)
    /// and sockets whose every call traps. Neither grants anything.
    Python,
}

impl Profile {
    /// The profile a component's custom section names, if any.
    pub fn of(wasm: &[u8]) -> Profile {
        match crate::runtime::python_files::custom_section(wasm, PROFILE_SECTION) {
            Some(b"python") => Profile::Python,
            _ => Profile::Plain,
        }
    }
}
