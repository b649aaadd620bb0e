//! Runs a future on the runtime the user picked.

use std::future::Future;
use std::sync::Arc;

use turnwire_smol::SmolRuntime;
use turnwire_tokio::TokioRuntime;
use turnwire_transports::Runtime;

use crate::args::RuntimeChoice;

/// Runs `make(runtime)` to completion on the chosen runtime.
pub(crate) fn block_on<F: Future>(
    choice: RuntimeChoice,
    make: impl FnOnce(Arc<dyn Runtime>) -> F,
) -> Result<F::Output, String> {
    match choice {
        RuntimeChoice::Tokio => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
            let runtime: Arc<dyn Runtime> =
                Arc::new(TokioRuntime::with_handle(rt.handle().clone()));
            Ok(rt.block_on(make(runtime)))
        }
        RuntimeChoice::Smol => {
            let runtime: Arc<dyn Runtime> = Arc::new(SmolRuntime::global());
            Ok(smol::block_on(make(runtime)))
        }
    }
}
