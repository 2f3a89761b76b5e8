//! shell in a terminal.

#[allow(unused_imports)]
use super::*;
