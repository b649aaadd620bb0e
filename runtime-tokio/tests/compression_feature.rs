//! `request_compression` is checked when the client is built: with the `zstd` feature
//! (the default) such a client builds, without it `client` refuses it with
//! `BuildError::CompressionUnavailable` instead of failing every request later.
//! `.ci/run` also runs this file with `--no-default-features`.

use turnwire_tokio::{ApiKey, BuildError, ClientOptions, Config};

fn compressing_client() -> Result<turnwire_tokio::Client, BuildError> {
    let mut config = Config::new("http://127.0.0.1:9/v1");
    config.request_compression = true;
    turnwire_tokio::client(ClientOptions::new(config, ApiKey::new("test-key")))
}

#[cfg(feature = "zstd")]
#[tokio::test(flavor = "current_thread")]
async fn request_compression_builds_with_zstd() {
    assert!(compressing_client().is_ok());
}

#[cfg(not(feature = "zstd"))]
#[tokio::test(flavor = "current_thread")]
async fn request_compression_is_refused_without_zstd() {
    let error = compressing_client().expect_err("refused when built");
    assert_eq!(error, BuildError::CompressionUnavailable);
    let message = error.to_string();
    assert!(message.contains("`zstd` feature"), "{message}");
    assert!(message.contains("request_compression"), "{message}");
}
