//! Retraining policies in the server: the API document (`doc`), and evaluating policies
//! on a schedule or on request (`evaluate`), which records triggers and sends them.

pub mod doc;
pub mod evaluate;
