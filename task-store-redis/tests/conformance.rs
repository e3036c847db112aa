//! The shared conformance suite against a real Redis, every case, each store under its own
//! key prefix (deleted when the case ends).

mod support;

use support::scratch_store;

conformance_tests::conformance_suite!(scratch_store);
