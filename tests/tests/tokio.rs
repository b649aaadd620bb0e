//! PROTOCOL.md section 14, scenarios 1–21, on tokio over real loopback sockets.

turnwire_tests::scenario_tests!(turnwire_tests::Rt::Tokio);
