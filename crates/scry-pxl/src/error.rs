use crate::ast::Pos;

/// Why a script could not be compiled or run: one message, at a position
/// when the fault has one.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}{message}", pos.map(|p| format!("{p}: ")).unwrap_or_default())]
pub struct PxlError {
    pub pos: Option<Pos>,
    pub message: String,
}

impl PxlError {
    pub fn at(pos: Pos, message: impl Into<String>) -> PxlError {
        PxlError { pos: Some(pos), message: message.into() }
    }

    pub fn script(message: impl Into<String>) -> PxlError {
        PxlError { pos: None, message: message.into() }
    }
}

pub type Result<T, E = PxlError> = std::result::Result<T, E>;
