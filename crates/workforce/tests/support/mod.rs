pub mod centre;
pub mod synthetic;
