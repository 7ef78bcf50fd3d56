//! Drives the Runtime API over real HTTP the way a runtime does.

use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;

fn start() -> RuntimeApi {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    RuntimeApi::serve(l).unwrap()
}

/// Minimal blocking HTTP/1.1 client, one request per connection.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (status, head.to_lowercase(), body.to_string())
}

fn invocation(id: &str) -> Invocation {
    Invocation {
        request_id: id.into(),
        deadline_ms: 42,
        invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
        trace_id: Some("Root=1-abc".into()),
        client_context: None,
        cognito_identity: None,
        payload: Bytes::from_static(b"{\"k\":1}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_invocation_cycle() {
    let api = start();
    let addr = api.addr();
    let mut phase = api.phase();
    assert_eq!(*phase.borrow(), Phase::Initializing);
    let next = tokio::task::spawn_blocking(move || {
        call(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"")
    });
    phase.wait_for(|p| *p == Phase::Ready).await.unwrap();
    let rx = api.dispatch(invocation("req-1"));
    let (status, head, body) = next.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "{\"k\":1}");
    assert!(head.contains("lambda-runtime-aws-request-id: req-1"));
    assert!(head.contains("lambda-runtime-deadline-ms: 42"));
    assert!(head.contains(
        "lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:f"
    ));
    assert!(head.contains("lambda-runtime-trace-id: root=1-abc"));

    // Unknown id: 400, and the invocation stays open.
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        call(
            addr,
            "POST",
            "/2018-06-01/runtime/invocation/other/response",
            &[],
            b"1",
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("InvalidRequestID"));

    let (status, _, _) = tokio::task::spawn_blocking(move || {
        call(
            addr,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/response",
            &[],
            b"\"done\"",
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 202);
    assert_eq!(
        rx.await.unwrap(),
        Outcome::Response(Bytes::from_static(b"\"done\""))
    );

    // Already answered: 400.
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        call(
            addr,
            "POST",
            "/2018-06-01/runtime/invocation/req-1/response",
            &[],
            b"\"again\"",
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_invocation_is_served_at_next_and_errors_are_passed_through() {
    let api = start();
    let addr = api.addr();
    let rx = api.dispatch(invocation("req-2"));
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        call(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"")
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        call(
            addr,
            "POST",
            "/2018-06-01/runtime/invocation/req-2/error",
            &[("Lambda-Runtime-Function-Error-Type", "Unhandled")],
            br#"{"errorMessage":"boom","errorType":"ValueError"}"#,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 202);
    match rx.await.unwrap() {
        Outcome::Error { error_type, body } => {
            assert_eq!(error_type.as_deref(), Some("Unhandled"));
            assert!(body.starts_with(b"{\"errorMessage\":\"boom\""));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_response_is_refused_with_413() {
    let api = start();
    let addr = api.addr();
    let rx = api.dispatch(invocation("req-3"));
    tokio::task::spawn_blocking(move || {
        call(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"")
    })
    .await
    .unwrap();
    let big = vec![b'a'; MAX_RESPONSE_BYTES + 1];
    let (status, _, body) = tokio::task::spawn_blocking(move || {
        call(
            addr,
            "POST",
            "/2018-06-01/runtime/invocation/req-3/response",
            &[],
            &big,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 413);
    assert!(body.contains("RequestEntityTooLarge"));
    assert_eq!(
        rx.await.unwrap(),
        Outcome::ResponseTooLarge(Some(MAX_RESPONSE_BYTES + 1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_error_and_unknown_routes() {
    let api = start();
    let addr = api.addr();
    let mut phase = api.phase();
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        call(
            addr,
            "POST",
            "/2018-06-01/runtime/init/error",
            &[(
                "Lambda-Runtime-Function-Error-Type",
                "Runtime.ImportModuleError",
            )],
            br#"{"errorMessage":"Unable to import module 'app'"}"#,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 202);
    let p = phase
        .wait_for(|p| matches!(p, Phase::InitFailed { .. }))
        .await
        .unwrap()
        .clone();
    assert!(
        matches!(p, Phase::InitFailed { error_type: Some(t), .. } if t == "Runtime.ImportModuleError")
    );
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        call(addr, "GET", "/2018-06-01/runtime/nope", &[], b"")
    })
    .await
    .unwrap();
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_responses_arrive_piece_by_piece_and_trailers_end_them_as_errors() {
    use nimbus_invoke::StreamChunk;
    let api = start();
    let addr = api.addr();
    for (id, fail) in [("s1", false), ("s2", true)] {
        let next = tokio::task::spawn_blocking(move || {
            call(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"")
        });
        let outcome = api.dispatch(invocation(id));
        next.await.unwrap();
        // A chunked post in streaming mode: two pieces, a pause between them, then
        // (for s2) the error trailers.
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let poster = tokio::task::spawn_blocking(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let head = format!(
                "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
                 lambda-runtime-function-response-mode: streaming\r\ntransfer-encoding: chunked\r\n\
                 trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(b"6\r\nfirst \r\n").unwrap();
            s.flush().unwrap();
            gate_rx.recv().unwrap();
            s.write_all(b"6\r\nsecond\r\n").unwrap();
            if fail {
                s.write_all(b"0\r\nlambda-runtime-function-error-type: Boom\r\nlambda-runtime-function-error-body: eyJ4IjoxfQ==\r\n\r\n")
                    .unwrap();
            } else {
                s.write_all(b"0\r\n\r\n").unwrap();
            }
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).to_string()
        });
        let Outcome::Streaming(stream) = outcome.await.unwrap() else {
            panic!("expected a streamed outcome");
        };
        let mut rx = stream.take().unwrap();
        // The first piece arrives before the second is even sent.
        assert_eq!(
            rx.recv().await,
            Some(StreamChunk::Data(Bytes::from_static(b"first ")))
        );
        gate_tx.send(()).unwrap();
        assert_eq!(
            rx.recv().await,
            Some(StreamChunk::Data(Bytes::from_static(b"second")))
        );
        if fail {
            assert_eq!(
                rx.recv().await,
                Some(StreamChunk::Error {
                    error_type: "Boom".into(),
                    body: Bytes::from_static(b"{\"x\":1}")
                })
            );
        }
        assert_eq!(rx.recv().await, None);
        assert!(poster.await.unwrap().starts_with("HTTP/1.1 202"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_start_restore_waits_for_the_host_then_reports_hook_failures() {
    let api = start();
    let addr = api.addr();
    let mut phase = api.phase();
    assert!(
        !api.restore(),
        "nothing to restore before the runtime waits"
    );
    let waiting = tokio::task::spawn_blocking(move || {
        call(addr, "GET", "/2018-06-01/runtime/restore/next", &[], b"")
    });
    phase.wait_for(|p| *p == Phase::Restorable).await.unwrap();
    assert!(
        !waiting.is_finished(),
        "restore/next blocks until handed out"
    );
    assert!(api.restore());
    let (status, _, _) = waiting.await.unwrap();
    assert_eq!(status, 200);
    // The runtime's afterRestore hook failed.
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        call(
            addr,
            "POST",
            "/2018-06-01/runtime/restore/error",
            &[(
                "Lambda-Runtime-Function-Error-Type",
                "java.lang.IllegalStateException",
            )],
            br#"{"errorMessage":"no connection"}"#,
        )
    })
    .await
    .unwrap();
    assert_eq!(status, 202);
    let p = phase
        .wait_for(|p| matches!(p, Phase::RestoreFailed { .. }))
        .await
        .unwrap()
        .clone();
    assert!(
        matches!(p, Phase::RestoreFailed { error_type: Some(t), .. } if t == "java.lang.IllegalStateException")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_runtime_is_ready_at_its_first_next() {
    let api = start();
    let addr = api.addr();
    let mut phase = api.phase();
    let waiting = tokio::task::spawn_blocking(move || {
        call(addr, "GET", "/2018-06-01/runtime/restore/next", &[], b"")
    });
    phase.wait_for(|p| *p == Phase::Restorable).await.unwrap();
    api.restore();
    assert_eq!(waiting.await.unwrap().0, 200);
    let _rx = api.dispatch(invocation("r1"));
    let (status, head, _) = tokio::task::spawn_blocking(move || {
        call(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], b"")
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("lambda-runtime-aws-request-id: r1"));
    assert_eq!(*phase.borrow_and_update(), Phase::Ready);
}
