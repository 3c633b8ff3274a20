//! End-to-end tests of the `sightline` binary.
