//! The shared conformance suite against a real PostgreSQL, every case, each store in a schema
//! of its own (dropped when the case ends).

mod support;

use support::scratch_store;

conformance_tests::conformance_suite!(scratch_store);
