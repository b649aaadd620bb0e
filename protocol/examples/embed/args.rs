//! The command line.

/// How to call the example.
pub(crate) const USAGE: &str =
    "usage: embed --base-url URL [--api-key KEY] [--model NAME] [--ca-cert FILE] PROMPT";

/// What the command line asked for.
#[derive(Debug)]
pub(crate) struct Args {
    /// The provider's base URL, such as `http://127.0.0.1:8080/v1`.
    pub(crate) base_url: String,
    /// The API key (`--api-key`, else `OPENAI_API_KEY`, else empty).
    pub(crate) api_key: String,
    /// The model.
    pub(crate) model: String,
    /// A file of extra roots to trust for `https` (PEM, or one DER certificate).
    pub(crate) ca_cert: Option<String>,
    /// The first user message.
    pub(crate) prompt: String,
}

impl Args {
    /// Reads the arguments after the program name.
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut base_url = None;
        let mut api_key = None;
        let mut model = "gpt-5".to_owned();
        let mut ca_cert = None;
        let mut prompt = Vec::new();
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--base-url" => base_url = Some(value()?),
                "--api-key" => api_key = Some(value()?),
                "--model" => model = value()?,
                "--ca-cert" => ca_cert = Some(value()?),
                "-h" | "--help" => return Err("help".to_owned()),
                flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
                _ => prompt.push(arg),
            }
        }
        let base_url = base_url.ok_or("--base-url is required")?;
        // An example may read its key from the environment; the core never does.
        #[allow(clippy::disallowed_methods)]
        let api_key = api_key
            .or_else(|| std::env::var("OPENAI_API_KEY").ok())
            .unwrap_or_default();
        if prompt.is_empty() {
            return Err("a prompt is required".to_owned());
        }
        Ok(Args {
            base_url,
            api_key,
            model,
            ca_cert,
            prompt: prompt.join(" "),
        })
    }
}
