//! hotline's e-mail channel core.
