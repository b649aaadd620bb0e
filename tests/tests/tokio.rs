//! PROTOCOL.md section 14, scenarios 1–21, 23–27 and 30, and the table's further
//! checks, on tokio over real loopback sockets.

turnwire_tests::scenario_tests!(turnwire_tests::Rt::Tokio);
