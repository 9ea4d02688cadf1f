//! `fastcgi_uwsgi::client` against real php-fpm and uWSGI: the scripts of `interop/assets/`
//! through the pooled FastCGI client, the WSGI test application through both clients,
//! recycling workers, timeouts, a backend that is down, two pools balanced.
#![cfg_attr(skip_interop, allow(unused))]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cgi_env::{Gateway, Preset};
use fastcgi_uwsgi::client::{
    BackendBody, ClientConfig, ClientError, FastCgiClient, TimeoutKind, UwsgiClient,
};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use interop::app_answer::AppAnswer;
use interop::checksum::{crc32, pattern};
use interop::php::{PhpFpm, PhpFpmOptions, decode_server_dump};
use interop::scratch::ScratchDir;
use interop::uwsgi::Uwsgi;

fn config(fpm: &PhpFpm) -> ClientConfig {
    let root = fpm.docroot.to_str().expect("utf-8 path");
    ClientConfig::fastcgi()
        .with_gateway(Gateway::new(Preset::nginx_fastcgi_conf()).with_document_root(root))
}

fn get(target: &str) -> Request<Empty<Bytes>> {
    Request::get(target)
        .header("host", "example.org")
        .body(Empty::new())
        .expect("request")
}

async fn body_of(response: Response<BackendBody>) -> Bytes {
    response
        .into_body()
        .collect()
        .await
        .expect("the whole body")
        .to_bytes()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn php_fpm_answers_through_the_pooled_client() {
    let dir = ScratchDir::new("client-php");
    let fpm = PhpFpm::start_with(&dir, PhpFpmOptions::default());
    let lines = Arc::new(Mutex::new(Vec::<u8>::new()));
    let seen = lines.clone();
    let client = FastCgiClient::new(
        fpm.addr().to_string(),
        config(&fpm).with_stderr_hook(move |_, bytes| {
            seen.lock().expect("lock").extend_from_slice(bytes);
        }),
    );
    runtime().block_on(async {
        // GET with a query and headers.
        let request = Request::get("/query.php?a=1&b=two")
            .header("host", "example.org")
            .header("x-one", "1")
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = client.send(request).await.expect("query.php");
        assert_eq!(response.status(), StatusCode::OK);
        let dump = decode_server_dump(&body_of(response).await);
        assert_eq!(dump["REQUEST_METHOD"], b"GET");
        assert_eq!(dump["QUERY_STRING"], b"a=1&b=two");
        assert_eq!(dump["HTTP_X_ONE"], b"1");
        assert_eq!(dump["HTTP_HOST"], b"example.org");

        // A 10 MB POST, checksummed by PHP.
        let upload = Bytes::from(pattern(10 << 20));
        let request = Request::post("/checksum.php")
            .header("content-type", "application/octet-stream")
            .body(Full::new(upload.clone()))
            .expect("request");
        let answer = body_of(client.send(request).await.expect("checksum.php")).await;
        let expected = format!("bytes={}\ncrc32={:08x}\n", upload.len(), crc32(&upload));
        assert_eq!(String::from_utf8_lossy(&answer), expected);

        // A 10 MB answer that PHP writes before it reads the 10 MB POST: the body must
        // stream while the response is read, or both sides wait forever.
        let request = Request::post(format!("/checksum.php?echo_bytes={}", 10 << 20))
            .header("content-type", "application/octet-stream")
            .body(Full::new(upload.clone()))
            .expect("request");
        let response = tokio::time::timeout(Duration::from_secs(30), async {
            body_of(client.send(request).await.expect("echo")).await
        })
        .await
        .expect("no deadlock on a large body with a large answer");
        let (echoed, tail) = response.split_at(10 << 20);
        assert!(echoed == upload, "the echoed pattern differs");
        assert_eq!(String::from_utf8_lossy(tail), expected);

        // Status and Location from PHP.
        let response = client.send(get("/status404.php")).await.expect("404");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(body_of(response).await, "not found\n");
        let response = client.send(get("/redirect.php")).await.expect("302");
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(response.headers()["location"], "/elsewhere");
        body_of(response).await;

        // STDERR reaches the hook.
        let response = client.send(get("/stderr.php")).await.expect("stderr.php");
        assert_eq!(body_of(response).await, "stderr done");
        let captured = String::from_utf8_lossy(&lines.lock().expect("lock")).into_owned();
        assert!(captured.contains("error_log line"), "stderr: {captured:?}");

        // fastcgi_finish_request: the response ends while the script goes on sleeping.
        let started = Instant::now();
        let response = client
            .send(get("/finish.php?s=3"))
            .await
            .expect("finish.php");
        assert_eq!(body_of(response).await, "finished early");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the response ended at fastcgi_finish_request ({:?})",
            started.elapsed()
        );

        // php-fpm answers GET_VALUES with FCGI_MPXS_CONNS=0: nothing is multiplexed.
        let stats = client.stats()[0].1;
        assert_eq!(stats.multiplexed, 0, "{stats:?}");
    });
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn a_thousand_requests_while_php_fpm_recycles_its_workers() {
    let dir = ScratchDir::new("client-recycle");
    let fpm = PhpFpm::start_with(
        &dir,
        PhpFpmOptions {
            children: 2,
            max_requests: Some(50),
            ..PhpFpmOptions::default()
        },
    );
    let client = FastCgiClient::new(fpm.addr().to_string(), config(&fpm));
    let pids = runtime().block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    let mut pids = Vec::new();
                    for _ in 0..250 {
                        let response = client.send(get("/pid.php")).await.expect("answered");
                        assert_eq!(response.status(), StatusCode::OK);
                        pids.push(body_of(response).await);
                    }
                    pids
                })
            })
            .collect();
        let mut pids = std::collections::BTreeSet::new();
        for task in tasks {
            pids.extend(task.await.expect("task"));
        }
        pids
    });
    let stats = client.stats()[0].1;
    // 1,000 requests at 50 per worker: at least 20 workers, each on its own connection.
    assert!(pids.len() >= 20, "{} workers served: {stats:?}", pids.len());
    assert!(stats.opened >= 20, "connections were replaced: {stats:?}");
    assert_eq!(stats.multiplexed, 0);
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn a_caller_that_gives_up_aborts_and_php_fpm_serves_on() {
    let dir = ScratchDir::new("client-abort");
    let fpm = PhpFpm::start_with(
        &dir,
        PhpFpmOptions {
            children: 1,
            ..PhpFpmOptions::default()
        },
    );
    let client = FastCgiClient::new(fpm.addr().to_string(), config(&fpm));
    runtime().block_on(async {
        let pid = body_of(client.send(get("/pid.php")).await.expect("pid")).await;
        // The caller gives up while the only worker sleeps: ABORT_REQUEST goes out.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(200),
            client.send(get("/sleep.php?s=1")),
        )
        .await;
        assert!(gave_up.is_err(), "sleep.php answered within 200 ms");
        // The next request waits for the worker, which is the same one.
        let started = Instant::now();
        let again = tokio::time::timeout(Duration::from_secs(5), async {
            body_of(client.send(get("/pid.php")).await.expect("after abort")).await
        })
        .await
        .expect("answered after the aborted request");
        assert_eq!(again, pid, "one worker served both");
        // php-fpm lets the script run to its end after ABORT_REQUEST (seen: the answer
        // came about 0.8 s later, when the 1 s sleep was over).
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stats = client.stats()[0].1;
        assert_eq!(stats.in_flight, 0, "the aborted request ended: {stats:?}");
    });
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn a_slow_script_times_out_and_a_dead_backend_is_a_connect_error() {
    let dir = ScratchDir::new("client-timeout");
    let fpm = PhpFpm::start_with(&dir, PhpFpmOptions::default());
    let client = FastCgiClient::new(
        fpm.addr().to_string(),
        config(&fpm).with_first_byte_timeout(Duration::from_secs(1)),
    );
    runtime().block_on(async {
        let pid = body_of(client.send(get("/pid.php")).await.expect("pid")).await;
        assert!(!pid.is_empty());
        let opened = client.stats()[0].1.opened;
        let error = client.send(get("/sleep.php?s=3")).await.unwrap_err();
        assert!(
            matches!(
                error,
                ClientError::Timeout {
                    kind: TimeoutKind::FirstByte,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(error.status_code(), StatusCode::GATEWAY_TIMEOUT);
        // The next request does not get the connection whose script still sleeps.
        let response = client.send(get("/pid.php")).await.expect("after timeout");
        body_of(response).await;
        assert!(
            client.stats()[0].1.opened > opened,
            "the timed-out connection was not reused: {:?}",
            client.stats()
        );
    });
    let address = fpm.addr().to_string();
    fpm.stop();
    let client = FastCgiClient::new(address.as_str(), ClientConfig::fastcgi());
    let error = runtime()
        .block_on(client.send(get("/pid.php")))
        .unwrap_err();
    assert!(error.is_connect(), "{error}");
    assert!(error.to_string().contains(&address), "{error}");
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn two_php_fpm_pools_balanced_and_one_stopped_mid_run() {
    let (dir_a, dir_b) = (
        ScratchDir::new("client-pool-a"),
        ScratchDir::new("client-pool-b"),
    );
    let a = PhpFpm::start_with(&dir_a, PhpFpmOptions::default());
    let b = PhpFpm::start_with(&dir_b, PhpFpmOptions::default());
    // Both pools serve the same scripts from their own docroot; query.php does not read
    // SCRIPT_FILENAME's directory, so one gateway fits both.
    let client = FastCgiClient::balanced(
        [a.addr().to_string(), b.addr().to_string()],
        config(&a).with_down_time(Duration::from_secs(30)),
    );
    let rt = runtime();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let run = |client: FastCgiClient| {
        let stop = stop.clone();
        rt.spawn(async move {
            let (mut answered, mut failures) = (0usize, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                match client.send(get("/pid.php")).await {
                    Ok(response) => {
                        body_of(response).await;
                        answered += 1;
                        // More connections than workers must not starve one in
                        // php-fpm's listen queue behind idle pooled connections.
                        if t.elapsed() > Duration::from_secs(5) {
                            failures.push(format!("answered after {:?}", t.elapsed()));
                        }
                    }
                    Err(error) => failures.push(error.to_string()),
                }
            }
            (answered, failures)
        })
    };
    let tasks: Vec<_> = (0..4).map(|_| run(client.clone())).collect();
    std::thread::sleep(Duration::from_millis(300));
    let stats = client.stats();
    assert!(
        stats.iter().all(|(_, s)| s.opened > 0),
        "requests went to both pools: {stats:?}"
    );
    // A graceful stop: php-fpm finishes what it has and closes its connections.
    b.stop();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut answered = 0;
    for task in tasks {
        let (count, failures) = rt.block_on(task).expect("task");
        assert_eq!(
            failures,
            Vec::<String>::new(),
            "no request lost when a pool stopped"
        );
        answered += count;
    }
    assert!(answered > 100, "{answered} requests answered");
    drop(client);
    // The runtime holds the pooled connections: php-fpm stops gracefully only once they close.
    drop(rt);
    drop(a);
}

#[test]
#[cfg_attr(skip_interop, ignore = "CGI_CODECS_SKIP_INTEROP is set")]
fn uwsgi_gives_the_same_answers_through_both_clients() {
    let dir = ScratchDir::new("client-uwsgi");
    let uwsgi = Uwsgi::start(&dir);
    // uWSGI routes FastCGI requests on PATH_INFO: nginx's uwsgi_params carry it.
    let fcgi = FastCgiClient::new(
        uwsgi.fastcgi_addr().to_string(),
        ClientConfig::fastcgi().with_gateway(Gateway::new(Preset::nginx_uwsgi_params())),
    );
    let native = UwsgiClient::new(uwsgi.uwsgi_addr().to_string(), ClientConfig::uwsgi());
    runtime().block_on(async {
        let upload = Bytes::from(pattern(3 << 20));
        let post = || {
            Request::post("/app/path?x=1")
                .header("host", "example.org")
                .header("x-one", "1")
                .body(Full::new(upload.clone()))
                .expect("request")
        };
        let via_fcgi = body_of(fcgi.send(post()).await.expect("fastcgi")).await;
        let via_uwsgi = body_of(native.send(post()).await.expect("uwsgi")).await;
        let (x, y) = (AppAnswer::parse(&via_fcgi), AppAnswer::parse(&via_uwsgi));
        for answer in [&x, &y] {
            assert_eq!(answer.body_len, upload.len() as u64);
            assert_eq!(answer.body_crc32, crc32(&upload));
        }
        for name in [
            "REQUEST_METHOD",
            "PATH_INFO",
            "QUERY_STRING",
            "HTTP_X_ONE",
            "CONTENT_LENGTH",
        ] {
            assert_eq!(x.environ.get(name), y.environ.get(name), "{name}");
        }
        for client_is_fcgi in [true, false] {
            let response = if client_is_fcgi {
                fcgi.send(get("/big?bytes=1000003")).await
            } else {
                native.send(get("/big?bytes=1000003")).await
            }
            .expect("big");
            assert_eq!(response.status(), StatusCode::OK);
            assert!(body_of(response).await == pattern(1_000_003));
            let response = if client_is_fcgi {
                fcgi.send(get("/status/404")).await
            } else {
                native.send(get("/status/404")).await
            }
            .expect("404");
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            assert_eq!(body_of(response).await, "not found\n");
        }
    });
}
