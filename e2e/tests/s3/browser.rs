//! The web side of S3 in a real browser: headless Chromium driven over the W3C WebDriver
//! protocol (Debian's chromium and chromium-driver, started by the test). A page served from
//! the website endpoint uploads a file through a presigned POST form, PUTs and GETs across
//! origins with fetch() under CORS (and is refused without a matching rule), and the static
//! site is browsed: index document, sub-folder index, routing-rule redirect, error document.
//! Screenshots of each page land in `target/tmp/browser-artifacts/`.
//!
//! Without chromedriver the test says so and passes, except under CI (`CI` set), where
//! `.ci/run` installs it and its absence fails the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use serde_json::{Value, json};

use crate::common::{ACCESS_KEY, SECRET_KEY, TestServer};
use crate::web::put_site;

/// How long chromedriver may take to listen, a session to start, a page to load or a script to
/// finish; each wait below is bounded by one of these.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const SCRIPT_TIMEOUT_MS: u64 = 20_000;
const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Where chromedriver is, or None when the machine has none (an error under CI).
fn chromedriver() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("CAIRN_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()));
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "CI must install chromium and chromium-driver (see .ci/run)");
    eprintln!("browser tests skipped: no {} (apt-get install chromium chromium-driver)", path.display());
    None
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A chromedriver process and one headless Chromium session in it; both end on drop.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(chromedriver: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(started.elapsed() < DRIVER_START_TIMEOUT, "chromedriver did not listen on {addr}");
            std::thread::sleep(POLL_INTERVAL);
        }
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser { driver, addr, session: String::new(), _profile: profile };
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=1024,768".to_owned(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args},
            "timeouts": {"script": SCRIPT_TIMEOUT_MS, "pageLoad": NAVIGATION_TIMEOUT.as_millis() as u64},
        }}});
        let created = browser.call("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    /// One WebDriver command; returns its `value`, panicking on a WebDriver error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(COMMAND_TIMEOUT)).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        // chromedriver keeps connections open: read the head, then Content-Length bytes.
        let mut response = Vec::new();
        let mut buffer = [0u8; 64 * 1024];
        let (split, length) = loop {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "chromedriver closed the connection mid-answer");
            response.extend_from_slice(&buffer[..read]);
            if let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse::<usize>().unwrap());
                break (split + 4, length.expect("a Content-Length"));
            }
        };
        while response.len() < split + length {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "chromedriver closed the connection mid-answer");
            response.extend_from_slice(&buffer[..read]);
        }
        let value: Value = serde_json::from_slice(&response[split..split + length]).expect("a JSON answer");
        let value = value["value"].clone();
        assert!(value.get("error").is_none(), "{method} {path}: {value}");
        value
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn go(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.session_call("GET", "/url", None).as_str().unwrap().to_owned()
    }

    /// Runs `script` (a function body) with `args`; returns what it returns.
    fn run(&self, script: &str, args: Value) -> Value {
        self.session_call("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// Runs `script`, which calls `done(result)` (its last argument) when it has finished.
    fn run_async(&self, script: &str, args: Value) -> Value {
        let script = format!("const done = arguments[arguments.length - 1];\n{script}");
        self.session_call("POST", "/execute/async", Some(json!({ "script": script, "args": args })))
    }

    fn text(&self) -> String {
        self.run("return document.body.innerText;", json!([])).as_str().unwrap_or_default().to_owned()
    }

    /// The HTTP status the current page was served with.
    fn status(&self) -> u64 {
        self.run("return performance.getEntriesByType('navigation')[0].responseStatus;", json!([])).as_u64().unwrap()
    }

    fn element(&self, css: &str) -> String {
        let found = self.session_call("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).expect("an element").to_owned()
    }

    fn screenshot(&self, name: &str) {
        let encoded = self.session_call("GET", "/screenshot", None);
        let png = base64_simd::STANDARD.decode_to_vec(encoded.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
    }

    /// Waits (bounded) for the page to be at a URL starting with `prefix`.
    fn wait_for_url(&self, prefix: &str) -> String {
        let started = Instant::now();
        loop {
            let url = self.url();
            let loaded = self.run("return document.readyState;", json!([])) == "complete";
            if url.starts_with(prefix) && loaded {
                return url;
            }
            assert!(started.elapsed() < NAVIGATION_TIMEOUT, "still at {url}, waiting for {prefix}");
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.call("DELETE", &path, None)));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// fetch() with `init`, answering `{status, etag, text}` or `{refused}` when the browser refuses.
const FETCH: &str = "fetch(arguments[0], arguments[1])
    .then(r => r.text().then(text => done({status: r.status, etag: r.headers.get('ETag'), text})))
    .catch(e => done({refused: String(e)}));";

// The browser's commands block the test's thread; the server runs on the runtime's workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_uploads_fetches_across_origins_and_browses_a_site() {
    let Some(chromedriver) = chromedriver() else { return };
    let server = TestServer::start().await;
    let s3 = &server.client;
    let web = server.handle.as_ref().unwrap().website_addr().unwrap();
    let origin = format!("http://site.s3-website.localhost:{}", web.port());
    put_site(s3, "site").await;
    let browser = Browser::start(&chromedriver);
    browses_the_site(&browser, &origin);
    uploads_through_a_presigned_form(s3, server.addr, &browser, &origin).await;
    fetches_across_origins_under_cors(s3, &browser, &origin).await;
    drop(browser);
    server.stop().await;
}

/// The site from `put_site`: index, sub-folder index, a routing rule, the error document.
fn browses_the_site(b: &Browser, origin: &str) {
    let pages = [
        ("home", "/", "/", 200, "Home"),
        ("blog", "/blog", "/blog/", 200, "Blog index"),
        ("guide", "/docs/guide.html", "/documents/guide.html", 200, "Guide"),
        ("not-found", "/nothing-here.html", "/nothing-here.html", 404, "Custom not found"),
    ];
    for (name, path, landed, status, text) in pages {
        b.go(&format!("{origin}{path}"));
        b.screenshot(name);
        let seen = (b.url(), b.status(), b.text());
        assert_eq!((seen.0.as_str(), seen.1), (format!("{origin}{landed}").as_str(), status), "{path}");
        assert!(seen.2.contains(text), "{path}: {}", seen.2);
    }
}

/// A form from `cairn_server::presigned_post`, on a page of the site, posted by the browser to
/// the API with a file it picked; the API redirects back to the site.
async fn uploads_through_a_presigned_form(s3: &aws_sdk_s3::Client, api: SocketAddr, b: &Browser, origin: &str) {
    s3.create_bucket().bucket("inbox").send().await.unwrap();
    let request = cairn_server::PostFormRequest {
        endpoint: format!("http://{api}"),
        bucket: "inbox".into(),
        key: "uploads/${filename}".into(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        region: "us-east-1".into(),
        expires_seconds: 600,
        fields: vec![
            ("success_action_redirect".into(), format!("{origin}/done.html")),
            ("x-amz-meta-from".into(), "chromium".into()),
        ],
        content_length_range: Some((1, 1024 * 1024)),
    };
    let form = cairn_server::presigned_post(&request, time::OffsetDateTime::now_utc()).unwrap();
    let page = format!("<html><body><h1>Upload a file</h1>\n{}</body></html>", form.to_html());
    for (key, html) in [("upload.html", page), ("done.html", "<html><body><h1>Thanks</h1></body></html>".to_owned())] {
        s3.put_object()
            .bucket("site")
            .key(key)
            .content_type("text/html")
            .body(ByteStream::from(html.into_bytes()))
            .send()
            .await
            .unwrap();
    }
    let file = tempfile::Builder::new().prefix("photo-").suffix(".txt").tempfile().unwrap();
    std::fs::write(file.path(), b"picked in a browser").unwrap();
    let (path, name) =
        (file.path().display().to_string(), file.path().file_name().unwrap().to_string_lossy().into_owned());
    b.go(&format!("{origin}/upload.html"));
    let input = b.element("input[type=file]");
    b.session_call("POST", &format!("/element/{input}/value"), Some(json!({ "text": path })));
    b.screenshot("upload-form");
    let submit = b.element("input[type=submit]");
    b.session_call("POST", &format!("/element/{submit}/click"), Some(json!({})));
    let url = b.wait_for_url(&format!("{origin}/done.html"));
    b.screenshot("upload-done");
    let expected =
        format!("/done.html?bucket=inbox&key=uploads%2F{}&etag=%22", name.replace('.', "%2E").replace('-', "%2D"));
    assert!(url.contains(&expected), "{url} has {expected}");
    assert!(b.text().contains("Thanks"));
    let got = s3.get_object().bucket("inbox").key(format!("uploads/{name}")).send().await.unwrap();
    assert_eq!(got.metadata().unwrap()["from"], "chromium");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"picked in a browser");
}

fn rule(origin: &str) -> CorsConfiguration {
    let rule = CorsRule::builder()
        .allowed_origins(origin)
        .allowed_methods("PUT")
        .allowed_methods("GET")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(60)
        .build()
        .unwrap();
    CorsConfiguration::builder().cors_rules(rule).build().unwrap()
}

/// fetch() from the site's origin to the API with presigned URLs: allowed by a matching rule,
/// refused by the browser for a rule of another origin and for a bucket without CORS.
async fn fetches_across_origins_under_cors(s3: &aws_sdk_s3::Client, b: &Browser, origin: &str) {
    let presigning = || PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();
    let mut urls = Vec::new();
    for (bucket, cors) in
        [("shared", Some(rule(origin))), ("elsewhere", Some(rule("http://other.example"))), ("closed", None)]
    {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        if let Some(cors) = cors {
            s3.put_bucket_cors().bucket(bucket).cors_configuration(cors).send().await.unwrap();
        }
        let put = s3.put_object().bucket(bucket).key("from-browser.txt").presigned(presigning()).await.unwrap();
        s3.put_object()
            .bucket(bucket)
            .key("served.txt")
            .body(ByteStream::from_static(b"served to a browser"))
            .send()
            .await
            .unwrap();
        let get = s3.get_object().bucket(bucket).key("served.txt").presigned(presigning()).await.unwrap();
        urls.push((put.uri().to_owned(), get.uri().to_owned()));
    }
    b.go(&format!("{origin}/"));
    let mut answers = Vec::new();
    for (put, get) in urls {
        answers.push(b.run_async(FETCH, json!([put, {"method": "PUT", "body": "written by fetch()"}])));
        answers.push(b.run_async(FETCH, json!([get, {"method": "GET"}])));
    }
    assert_eq!(answers[0]["status"], 200, "a preflighted PUT: {answers:?}");
    assert!(answers[0]["etag"].as_str().is_some_and(|e| e.starts_with('"')), "ETag exposed: {}", answers[0]);
    assert_eq!((answers[1]["status"].as_u64(), answers[1]["text"].as_str()), (Some(200), Some("served to a browser")));
    let written = s3.get_object().bucket("shared").key("from-browser.txt").send().await.unwrap();
    assert_eq!(written.body.collect().await.unwrap().into_bytes().as_ref(), b"written by fetch()");
    for (i, bucket) in [(2, "elsewhere"), (4, "closed")] {
        for answer in &answers[i..i + 2] {
            assert!(
                answer["refused"].as_str().is_some_and(|e| e.contains("Failed to fetch")),
                "{bucket}: refused: {answer}"
            );
        }
        let put = s3.head_object().bucket(bucket).key("from-browser.txt").send().await;
        assert!(put.is_err(), "{bucket}: the refused preflight kept the PUT from being sent");
    }
}
