//! POST Object: a browser uploads a file with an HTML form (`multipart/form-data`) to
//! `POST /<bucket>`. The fields before the file are read (at most `FORM_FIELDS_BYTES_MAX`), the
//! form's SigV4 signature and its policy are checked as AWS checks them, and the form becomes an
//! S3 PUT of its file, streamed (never held whole), signed as the account that signed the form
//! (anonymous for an unsigned form), and sent through the same service: the same authentication,
//! the same authorization step and the same PUT handler as every other write.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::pacing::RequestBody;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use s3s::service::S3Service;
use s3s::{Body, S3Error, S3ErrorCode};

use super::policy::{FormPolicy, Limits};
use super::sigv4::Scope;
use super::website::encode_path;

/// S3: the form fields before the file take at most 20 KB.
pub const FORM_FIELDS_BYTES_MAX: usize = 20 * 1024;

/// The most form fields before the file (each at least a few bytes, so the byte bound above
/// would allow thousands).
pub const FORM_FIELDS_MAX: usize = 256;

/// The file's chunks buffered between the form and the PUT: the memory one upload holds.
pub const FORM_FILE_CHUNKS_IN_FLIGHT: usize = 4;

/// The fields that pass to the PUT as the headers of the same name.
const OBJECT_FIELDS: [&str; 5] =
    ["cache-control", "content-type", "content-disposition", "content-encoding", "expires"];

/// One browser form upload to `bucket`.
pub(crate) struct Upload {
    pub inner: S3Service,
    /// Every account's secret, by access key.
    pub secrets: Arc<HashMap<String, String>>,
    pub peer: Option<IpAddr>,
    pub bucket: String,
    /// The request's ids, for its event, when some bucket publishes events.
    pub event_ids: Option<crate::notify::RequestIds>,
}

/// The fields of a form before its file: lower-case names, in order.
pub(crate) struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

use super::s3_error as error;

fn malformed() -> S3Error {
    let mut refused =
        error("MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.");
    refused.set_status_code(StatusCode::BAD_REQUEST);
    refused
}

fn missing(field: &str) -> S3Error {
    let message = format!(
        "Bucket POST must contain a field named '{field}'.  If it is specified, please check the order of the fields."
    );
    error("InvalidArgument", &message)
}

/// Whether a request is a browser form upload: a POST of `multipart/form-data` to a bucket.
pub(crate) fn is_form(request: &Request<RequestBody>, key: &str) -> bool {
    let form = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().len() >= 19 && v.as_bytes()[..19].eq_ignore_ascii_case(b"multipart/form-data"));
    request.method() == http::Method::POST && form && key.is_empty()
}

impl Upload {
    pub async fn serve(self, request: Request<RequestBody>) -> Response<Body> {
        match self.run(request).await {
            Ok(response) => response,
            Err(refused) => refused.to_http_response().unwrap_or_else(|_| {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
            }),
        }
    }

    async fn run(self, request: Request<RequestBody>) -> Result<Response<Body>, S3Error> {
        use http_body_util::BodyExt;
        let content_type =
            request.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let boundary = multer::parse_boundary(content_type).map_err(|_| malformed())?;
        let host = request.headers().get(http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let mut form = multer::Multipart::new(request.into_body().into_data_stream(), boundary);
        let (fields, file) = read_fields(&mut form).await?;
        let file =
            file.ok_or_else(|| error("InvalidArgument", "POST requires exactly one file upload per request."))?;
        let filename = file.file_name().unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("").to_owned();
        let key = fields.get("key").ok_or_else(|| missing("key"))?.replace("${filename}", &filename);
        if key.is_empty() {
            return Err(error("InvalidArgument", "User key must have a length greater than 0."));
        }
        let signer = self.signer(&fields)?;
        let limits = match fields.get("policy") {
            Some(policy) => FormPolicy::parse(policy)?.check(&fields, &self.bucket)?,
            None => Limits::default(),
        };
        let verdict = Arc::new(Mutex::new(None));
        let body = stream_file(form, file, limits, verdict.clone());
        let mut put = put_request(&self.bucket, &key, &fields, signer.as_ref(), body)?;
        put.extensions_mut().insert(crate::notify::Posted);
        if let Some(event_ids) = self.event_ids {
            put.extensions_mut().insert(event_ids);
        }
        let call = self.inner.call(put);
        let response = match self.peer {
            Some(peer) => crate::authorization::PEER.scope(peer, call).await,
            None => call.await,
        };
        if let Some(refused) = verdict.lock().expect("not poisoned").take() {
            return Err(refused);
        }
        let response = response.map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, format!("{e:?}")))?;
        if !response.status().is_success() {
            return Ok(response);
        }
        Ok(answer(&fields, &host, &self.bucket, &key, response.headers()))
    }

    /// The verified signer of a signed form (its scope and secret), `None` for an unsigned one.
    fn signer(&self, fields: &Fields) -> Result<Option<(Scope, String)>, S3Error> {
        let signed = ["policy", "x-amz-signature", "x-amz-credential", "x-amz-algorithm"];
        if fields.get("awsaccesskeyid").is_some() || fields.get("signature").is_some() {
            let message =
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";
            return Err(error("InvalidRequest", message));
        }
        if signed.iter().all(|name| fields.get(name).is_none()) {
            return Ok(None);
        }
        for name in signed.into_iter().chain(["x-amz-date"]) {
            fields.get(name).ok_or_else(|| missing(name))?;
        }
        let field = |name: &str| fields.get(name).unwrap_or_default();
        if field("x-amz-algorithm") != "AWS4-HMAC-SHA256" {
            return Err(error("InvalidArgument", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
        }
        let scope = Scope::parse(field("x-amz-credential")).ok_or_else(|| {
            let message = "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".";
            error("InvalidArgument", message)
        })?;
        if crate::guard::amz_date(field("x-amz-date")).is_none() {
            return Err(error(
                "InvalidArgument",
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            ));
        }
        let secret = self.secrets.get(&scope.access_key).ok_or_else(|| {
            error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
        })?;
        let expected = scope.sign_policy(secret, field("policy"));
        let given = field("x-amz-signature").to_ascii_lowercase();
        let same = expected.len() == given.len()
            && expected.bytes().zip(given.bytes()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0;
        if !same {
            let message = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
            return Err(error("SignatureDoesNotMatch", message));
        }
        Ok(Some((scope, secret.clone())))
    }
}

type Form = multer::Multipart<'static>;

/// The fields before the file, and the file (`None`: the form had none).
async fn read_fields(form: &mut Form) -> Result<(Fields, Option<multer::Field<'static>>), S3Error> {
    let too_large = || {
        error("MaxPostPreDataLengthExceededError", "Your POST request fields preceding the upload file were too large.")
    };
    let mut fields = Vec::new();
    let mut bytes = 0usize;
    while let Some(mut field) = form.next_field().await.map_err(|_| malformed())? {
        let name = field.name().unwrap_or("").to_ascii_lowercase();
        if name == "file" {
            return Ok((Fields(fields), Some(field)));
        }
        if fields.len() == FORM_FIELDS_MAX {
            return Err(too_large());
        }
        bytes += name.len();
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| malformed())? {
            bytes += chunk.len();
            if bytes > FORM_FIELDS_BYTES_MAX {
                return Err(too_large());
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value).map_err(|_| error("InvalidArgument", "Form fields must be UTF-8."))?;
        if !fields.iter().any(|(n, _)| *n == name) {
            fields.push((name, value));
        }
    }
    Ok((Fields(fields), None))
}

/// The file's bytes as a PUT body: read by a task of its own, at most
/// `FORM_FILE_CHUNKS_IN_FLIGHT` chunks ahead of the PUT, its length held to the policy's
/// `content-length-range` (a file outside it fails the PUT, so nothing is stored, and `verdict`
/// says why).
fn stream_file(
    form: Form,
    mut file: multer::Field<'static>,
    limits: Limits,
    verdict: Arc<Mutex<Option<S3Error>>>,
) -> Body {
    let (sender, receiver) = tokio::sync::mpsc::channel(FORM_FILE_CHUNKS_IN_FLIGHT);
    tokio::spawn(async move {
        let _form = form;
        let mut seen = 0u64;
        let refuse = |code: &str, message: &str| {
            *verdict.lock().expect("not poisoned") = Some(error(code, message));
            Err(std::io::Error::other(message.to_owned()).into())
        };
        loop {
            let item: Result<Bytes, s3s::StdError> = match file.chunk().await {
                Ok(Some(chunk)) => {
                    seen += chunk.len() as u64;
                    if seen > limits.max {
                        refuse("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
                    } else {
                        Ok(chunk)
                    }
                }
                Ok(None) if seen < limits.min => {
                    refuse("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
                }
                Ok(None) => return,
                Err(_) => {
                    *verdict.lock().expect("not poisoned") = Some(malformed());
                    Err(std::io::Error::other("the form ended early").into())
                }
            };
            let failed = item.is_err();
            if sender.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    Body::from(Box::pin(FileChunks(receiver)) as s3s::stream::DynByteStream)
}

struct FileChunks(tokio::sync::mpsc::Receiver<Result<Bytes, s3s::StdError>>);

impl futures::Stream for FileChunks {
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

impl s3s::stream::ByteStream for FileChunks {}

/// The S3 PUT a form becomes: its object fields as headers, its file as the body, signed as
/// its signer (with an unsigned payload) or anonymous.
fn put_request(
    bucket: &str,
    key: &str,
    fields: &Fields,
    signer: Option<&(Scope, String)>,
    body: Body,
) -> Result<Request<Body>, S3Error> {
    let path = format!("/{bucket}/{}", encode_path(key));
    let mut request = Request::new(body);
    *request.method_mut() = http::Method::PUT;
    *request.uri_mut() = path.parse().map_err(|_| error("InvalidArgument", "The key cannot be a URL path."))?;
    let headers = request.headers_mut();
    for (name, value) in &fields.0 {
        let header = match name.as_str() {
            "acl" => "x-amz-acl".to_owned(),
            "tagging" => {
                insert(headers, "x-amz-tagging", &tagging_header(value)?)?;
                continue;
            }
            name if OBJECT_FIELDS.contains(&name) => name.to_owned(),
            name if name.starts_with("x-amz-") && !FORM_ONLY.contains(&name) => name.to_owned(),
            _ => continue,
        };
        insert(headers, &header, value)?;
    }
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let amz_date = now.format(&format).map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, e.to_string()))?;
    insert(headers, "host", "127.0.0.1")?;
    insert(headers, "x-amz-content-sha256", "UNSIGNED-PAYLOAD")?;
    insert(headers, "x-amz-date", &amz_date)?;
    insert(headers, "content-length", "0")?;
    if let Some((scope, secret)) = signer {
        let scope = Scope { date: amz_date[..8].to_owned(), service: "s3".to_owned(), ..scope.clone() };
        let signed =
            [("host", "127.0.0.1"), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"), ("x-amz-date", amz_date.as_str())];
        let authorization = scope.authorize(secret, "PUT", (&path, ""), &signed, &amz_date);
        insert(headers, "authorization", &authorization)?;
    }
    request.extensions_mut().insert(crate::guard::LengthUnknown);
    Ok(request)
}

/// The `x-amz-*` fields of a form that are about the form, not the object.
const FORM_ONLY: [&str; 4] = ["x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-date"];

fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), S3Error> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| error("InvalidArgument", "A form field name is not valid."))?;
    let value =
        HeaderValue::from_str(value).map_err(|_| error("InvalidArgument", "A form field value is not valid."))?;
    headers.insert(name, value);
    Ok(())
}

/// A form's `tagging` field (a `<Tagging>` document) as the `x-amz-tagging` header writes it.
fn tagging_header(document: &str) -> Result<String, S3Error> {
    use s3s::xml::Deserialize;
    let mut reader = s3s::xml::Deserializer::new(document.as_bytes());
    let tagging = s3s::dto::Tagging::deserialize(&mut reader).map_err(|_| {
        error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    })?;
    let encode =
        |text: &str| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string();
    let pairs: Vec<String> = tagging
        .tag_set
        .iter()
        .map(|tag| {
            format!("{}={}", encode(tag.key.as_deref().unwrap_or("")), encode(tag.value.as_deref().unwrap_or("")))
        })
        .collect();
    Ok(pairs.join("&"))
}

/// A stored form's answer: `success_action_redirect` (303 to it with the bucket, key and ETag),
/// else `success_action_status` 200, 201 (with a PostResponse document) or 204 (the default).
fn answer(fields: &Fields, host: &str, bucket: &str, key: &str, put: &HeaderMap) -> Response<Body> {
    let etag = put.get(http::header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let location = format!("http://{host}/{bucket}/{}", encode_path(key));
    let redirect = fields.get("success_action_redirect").or(fields.get("redirect"));
    let redirect = redirect.filter(|url| url.starts_with("http://") || url.starts_with("https://"));
    let mut response = match redirect {
        Some(url) => {
            let encode = |text: &str| {
                percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
            };
            let joiner = if url.contains('?') { '&' } else { '?' };
            let target = format!("{url}{joiner}bucket={}&key={}&etag={}", encode(bucket), encode(key), encode(&etag));
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::SEE_OTHER;
            if let Ok(target) = HeaderValue::from_str(&target) {
                response.headers_mut().insert(http::header::LOCATION, target);
            }
            response
        }
        None => match fields.get("success_action_status") {
            Some("200") => Response::new(Body::empty()),
            Some("201") => {
                let escape = crate::guard::escape_xml;
                let body = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                    escape(&location),
                    escape(bucket),
                    escape(key),
                    escape(&etag)
                );
                let mut response = Response::new(Body::from(Bytes::from(body)));
                *response.status_mut() = StatusCode::CREATED;
                response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
                response
            }
            _ => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            }
        },
    };
    let headers = response.headers_mut();
    for (name, value) in put {
        if name == http::header::ETAG || name.as_str().starts_with("x-amz-") {
            headers.insert(name.clone(), value.clone());
        }
    }
    if !headers.contains_key(http::header::LOCATION)
        && let Ok(location) = HeaderValue::from_str(&location)
    {
        headers.insert(http::header::LOCATION, location);
    }
    response
}
