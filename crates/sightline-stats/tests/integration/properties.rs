//! Invariants every input must satisfy, whatever the reference says.
