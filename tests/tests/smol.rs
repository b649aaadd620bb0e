//! PROTOCOL.md section 14, scenarios 1–21, on smol over real loopback sockets.

turnwire_tests::scenario_tests!(turnwire_tests::Rt::Smol);
