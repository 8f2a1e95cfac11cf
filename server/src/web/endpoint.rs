//! The website endpoint: a bucket served as a static website, as AWS's
//! `<bucket>.s3-website.<region>.amazonaws.com` serves it. Anonymous GET and HEAD only; a folder
//! answers with its index document, routing rules redirect, an object's
//! `x-amz-website-redirect-location` redirects, and errors are HTML pages (or the bucket's error
//! document, with the error's status).
//!
//! Every object is fetched as an anonymous S3 GET through the same service, and so through the
//! one authorization step: the bucket policy, ACLs and Block Public Access decide what a website
//! shows, exactly as they decide for an anonymous API request.

use bytes::Bytes;
use cairn_engine::Engine;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use s3s::service::S3Service;
use s3s::{Body, HttpError};

use super::website::{BUCKET_WEBSITE, Website, encode_path};

/// The headers of a website request that an object fetch keeps (conditions and ranges); every
/// other header, credentials included, is dropped: the website endpoint is anonymous.
const FETCH_HEADERS: [&str; 5] = ["range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"];

/// The most of an object's answer read to learn an error's code (S3 error documents are small).
const ERROR_BODY_BYTES_MAX: usize = 64 * 1024;

/// One request to a bucket's website.
pub(crate) struct Visit {
    pub inner: S3Service,
    pub engine: Engine,
    pub peer: Option<std::net::IpAddr>,
    pub bucket: String,
    pub request_id: String,
    pub host_id: String,
}

/// An error as the website endpoint reports it.
struct Failure {
    status: StatusCode,
    code: String,
    message: String,
    /// The key it is about, if any.
    key: Option<String>,
}

impl Visit {
    pub async fn serve(self, method: Method, path: &str, headers: &HeaderMap) -> Result<Response<Body>, HttpError> {
        if method != Method::GET && method != Method::HEAD {
            let failure = Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            );
            return Ok(self.page(&failure, None, &method));
        }
        let stored = match self.engine.get_bucket_config(&self.bucket, BUCKET_WEBSITE) {
            Ok(stored) => stored,
            Err(cairn_engine::Error::NoSuchBucket { .. }) => {
                let failure =
                    Failure::new(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist");
                return Ok(self.page(&failure, None, &method));
            }
            Err(error) => {
                let failure = Failure::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &error.to_string());
                return Ok(self.page(&failure, None, &method));
            }
        };
        let Some(website) = stored.and_then(|stored| Website::decode(&stored)) else {
            let failure = Failure::new(
                StatusCode::NOT_FOUND,
                "NoSuchWebsiteConfiguration",
                "The specified bucket does not have a website configuration",
            );
            return Ok(self.page(&failure, None, &method));
        };
        let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
        let requested =
            percent_encoding::percent_decode_str(path.trim_start_matches('/')).decode_utf8_lossy().into_owned();
        if let Some(all) = &website.redirect_all {
            let protocol = all.protocol.as_deref().unwrap_or("http");
            return Ok(redirect(301, &format!("{protocol}://{}/{}", all.host, encode_path(&requested))));
        }
        if let Some(rule) = website.rule_for(&requested, None) {
            let (code, location) = rule.location(&requested, &host, "http");
            return Ok(redirect(code, &location));
        }
        let key = website.key_for(&requested);
        let response = self.fetch(&method, &key, headers).await?;
        if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
            return Ok(match response.headers().get("x-amz-website-redirect-location").cloned() {
                Some(location) => redirect_to(301, location),
                None => response,
            });
        }
        let failure = Failure::read(response, &key).await;
        self.failed(&website, &method, &requested, &host, failure).await
    }

    /// The answer to a request whose object could not be served: a folder's redirect to its
    /// trailing slash, a routing rule for the error, the error document, or an HTML page.
    async fn failed(
        &self,
        website: &Website,
        method: &Method,
        requested: &str,
        host: &str,
        failure: Failure,
    ) -> Result<Response<Body>, HttpError> {
        if failure.code == "NoSuchKey" && !requested.is_empty() && !requested.ends_with('/') {
            let folder = website.key_for(&format!("{requested}/"));
            if self.fetch(&Method::HEAD, &folder, &HeaderMap::new()).await?.status().is_success() {
                return Ok(redirect(302, &format!("/{}/", encode_path(requested))));
            }
        }
        if let Some(rule) = website.rule_for(requested, Some(failure.status.as_u16())) {
            let (code, location) = rule.location(requested, host, "http");
            return Ok(redirect(code, &location));
        }
        let Some(document) = website.error.as_deref().filter(|_| failure.status.is_client_error()) else {
            return Ok(self.page(&failure, None, method));
        };
        let mut answer = self.fetch(method, document, &HeaderMap::new()).await?;
        if answer.status().is_success() {
            *answer.status_mut() = failure.status;
            answer.headers_mut().remove(http::header::ACCEPT_RANGES);
            return Ok(answer);
        }
        let second = Failure::read(answer, document).await;
        Ok(self.page(&failure, Some(&second), method))
    }

    /// An anonymous S3 request for `key` through the service (and its authorization step).
    async fn fetch(&self, method: &Method, key: &str, headers: &HeaderMap) -> Result<Response<Body>, HttpError> {
        let uri = format!("/{}/{}", self.bucket, encode_path(key));
        let mut request = Request::new(Body::empty());
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.parse().map_err(|e| HttpError::new(Box::new(e)))?;
        request.headers_mut().insert(http::header::HOST, HeaderValue::from_static("127.0.0.1"));
        for name in FETCH_HEADERS {
            if let Some(value) = headers.get(name) {
                request.headers_mut().insert(name, value.clone());
            }
        }
        let call = self.inner.call(request);
        match self.peer {
            Some(peer) => crate::authorization::PEER.scope(peer, call).await,
            None => call.await,
        }
    }

    /// AWS's HTML error page; `document` is the failure to fetch the error document, if any.
    fn page(&self, failure: &Failure, document: Option<&Failure>, method: &Method) -> Response<Body> {
        let reason = failure.status.canonical_reason().unwrap_or("");
        let title = format!("{} {reason}", failure.status.as_u16());
        let mut html = format!("<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n");
        html.push_str(&failure.items());
        if failure.code == "NoSuchBucket" {
            html.push_str(&format!("<li>BucketName: {}</li>\n", escape_html(&self.bucket)));
        }
        html.push_str(&format!("<li>RequestId: {}</li>\n<li>HostId: {}</li>\n</ul>\n", self.request_id, self.host_id));
        if let Some(document) = document {
            html.push_str("<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>\n<ul>\n");
            html.push_str(&document.items());
            html.push_str("</ul>\n");
        }
        html.push_str("<hr/>\n</body>\n</html>\n");
        let length = html.len();
        let body = if *method == Method::HEAD { Body::empty() } else { Body::from(Bytes::from(html)) };
        let mut response = Response::new(body);
        *response.status_mut() = failure.status;
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
        headers.insert(
            "x-amz-error-code",
            HeaderValue::from_str(&failure.code).unwrap_or(HeaderValue::from_static("InternalError")),
        );
        if let Ok(message) = HeaderValue::from_str(&failure.message) {
            headers.insert("x-amz-error-message", message);
        }
        response
    }
}

impl Failure {
    fn new(status: StatusCode, code: &str, message: &str) -> Failure {
        Failure { status, code: code.to_owned(), message: message.to_owned(), key: None }
    }

    /// The error an S3 answer carries (a HEAD's has no body: its status says it).
    async fn read(response: Response<Body>, key: &str) -> Failure {
        use http_body_util::BodyExt;
        let status = response.status();
        let limited = http_body_util::Limited::new(response.into_body(), ERROR_BODY_BYTES_MAX);
        let body = limited.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let element = |name: &str| {
            let open = format!("<{name}>");
            let close = format!("</{name}>");
            text.split_once(open.as_str())
                .and_then(|(_, rest)| rest.split_once(close.as_str()))
                .map(|(v, _)| v.to_owned())
        };
        let (code, message) = match (element("Code"), element("Message")) {
            (Some(code), message) => (code, message.unwrap_or_default()),
            (None, _) => match status {
                StatusCode::NOT_FOUND => ("NoSuchKey".to_owned(), "The specified key does not exist.".to_owned()),
                StatusCode::FORBIDDEN => ("AccessDenied".to_owned(), "Access Denied".to_owned()),
                other => (other.canonical_reason().unwrap_or("Error").replace(' ', ""), String::new()),
            },
        };
        let key = matches!(code.as_str(), "NoSuchKey").then(|| key.to_owned());
        Failure { status, code, message, key }
    }

    fn items(&self) -> String {
        let mut items =
            format!("<li>Code: {}</li>\n<li>Message: {}</li>\n", escape_html(&self.code), escape_html(&self.message));
        if let Some(key) = &self.key {
            items.push_str(&format!("<li>Key: {}</li>\n", escape_html(key)));
        }
        items
    }
}

fn redirect(code: u16, location: &str) -> Response<Body> {
    match HeaderValue::from_str(location) {
        Ok(location) => redirect_to(code, location),
        Err(_) => redirect_to(code, HeaderValue::from_static("/")),
    }
}

fn redirect_to(code: u16, location: HeaderValue) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    response.headers_mut().insert(http::header::LOCATION, location);
    response.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(0));
    response
}

fn escape_html(text: &str) -> String {
    crate::guard::escape_xml(text)
}

/// The bucket a website request names: `<bucket>.s3-website.<anything>` (AWS's website host
/// names, Cairn's under any domain), else the whole host name, as AWS serves a bucket named for
/// the domain a CNAME points at it.
pub(crate) fn website_bucket(host: &str) -> String {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    match name.find(".s3-website") {
        Some(at) if at > 0 && name[at + 11..].starts_with(['.', '-']) => name[..at].to_owned(),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn website_hosts_name_their_bucket() {
        use super::website_bucket;
        assert_eq!(website_bucket("site.s3-website.localhost:8080"), "site");
        assert_eq!(website_bucket("my.site.s3-website-us-east-1.amazonaws.com"), "my.site");
        assert_eq!(website_bucket("www.example.com"), "www.example.com");
        assert_eq!(website_bucket("WWW.Example.com.:80"), "www.example.com");
        assert_eq!(website_bucket("s3-website.example"), "s3-website.example");
    }
}
