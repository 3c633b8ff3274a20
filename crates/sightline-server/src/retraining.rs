//! Retraining policies in the server: the API document (`doc`), and evaluating policies
//! on a schedule or on request (`evaluate`), which records triggers, and sending them to
//! the policy's webhook with retries (`delivery`).

pub mod delivery;
pub mod doc;
pub mod evaluate;
