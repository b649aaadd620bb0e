//! PROTOCOL.md section 3.3 "Response encodings": a successful response with a
//! `Content-Encoding` other than `identity` ends its request with an error that names
//! the encoding, and is not retried (the server would compress the retry too). The
//! rule is `http1::content_encoding`; the session applies it to every 2xx head.

use turnwire_protocol::item::ResponseItem;
use turnwire_protocol::request::RequestFields;
use turnwire_protocol::session::{
    CloseReason, ConnId, Input, Output, RequestInput, RequestSpec, Session, SessionParams,
    TurnOptions,
};
use turnwire_protocol::{Config, Credentials, Instant, Now, ResponseError, UnixTime};

const NOW: Now = Now::new(Instant::ZERO, UnixTime::EPOCH);

/// A session on HTTP with its first request's connection open.
fn requesting() -> (Session, ConnId) {
    let mut session = Session::new(SessionParams {
        config: Config::new("http://api.test/v1"),
        credentials: Credentials::bearer("k"),
        auth_refreshable: false,
        conversation_id: "c".into(),
        seed: 1,
    })
    .expect("valid configuration");
    let turn = session
        .start_turn_with(NOW, TurnOptions::default())
        .unwrap();
    let spec = RequestSpec {
        fields: RequestFields::new("m"),
        input: RequestInput::Append(vec![ResponseItem::user_text("hi")]),
    };
    session.start_request_with(NOW, turn, spec).unwrap();
    let conn = std::iter::from_fn(|| session.poll_output())
        .find_map(|o| match o {
            Output::OpenHttp(open) => Some(open.conn),
            _ => None,
        })
        .expect("the request opens an HTTP connection");
    (session, conn)
}

fn head(session: &mut Session, conn: ConnId, encoding: Option<&str>) -> Vec<Output> {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "text/event-stream".parse().unwrap());
    if let Some(encoding) = encoding {
        headers.insert("content-encoding", encoding.parse().unwrap());
    }
    let input = Input::HttpResponse {
        conn,
        status: 200,
        headers,
    };
    session.handle_input(NOW, input).unwrap();
    std::iter::from_fn(|| session.poll_output()).collect()
}

#[test]
fn a_compressed_response_fails_once_naming_the_encoding() {
    let (mut session, conn) = requesting();
    let outputs = head(&mut session, conn, Some("gzip"));
    let error = outputs.iter().find_map(|o| match o {
        Output::Failed { error, .. } => Some(error.clone()),
        _ => None,
    });
    assert_eq!(
        error,
        Some(ResponseError::UnsupportedContentEncoding {
            encoding: "gzip".into()
        }),
        "{outputs:?}"
    );
    assert!(
        error.unwrap().to_string().contains("gzip"),
        "the message names the encoding"
    );
    assert!(
        outputs.iter().any(|o| matches!(
            o,
            Output::Close { conn: c, reason: CloseReason::Abandoned } if *c == conn
        )),
        "the connection is abandoned: {outputs:?}"
    );
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::OpenHttp(_))),
        "not retried: {outputs:?}"
    );
    assert_eq!(session.running_requests(), 0);
    assert_eq!(session.poll_timeout(), None, "no retry is scheduled");
}

#[test]
fn an_identity_response_streams() {
    for encoding in [None, Some("identity")] {
        let (mut session, conn) = requesting();
        let outputs = head(&mut session, conn, encoding);
        assert!(
            !outputs.iter().any(|o| matches!(o, Output::Failed { .. })),
            "{encoding:?}: {outputs:?}"
        );
        assert_eq!(session.running_requests(), 1);
    }
}
