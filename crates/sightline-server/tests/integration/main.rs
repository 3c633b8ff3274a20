//! Integration tests of the server against a real listener and a temporary data dir.
