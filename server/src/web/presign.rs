//! Presigned POST forms, as boto3's `generate_presigned_post` makes them: a policy that names
//! the bucket, the key (or its prefix, for a key ending in `${filename}`), every extra field and
//! the signing fields, signed with an account's secret, and the fields a browser form carries.

use serde_json::{Value, json};

use super::sigv4::Scope;

/// The longest a presigned form may stay valid (as presigned URLs: 7 days).
pub const PRESIGNED_POST_SECONDS_MAX: u64 = crate::guard::PRESIGNED_EXPIRES_SECONDS_MAX;

/// What a presigned form is for.
#[derive(Clone, Debug)]
pub struct PostFormRequest {
    /// The S3 endpoint, such as `http://127.0.0.1:9000`.
    pub endpoint: String,
    pub bucket: String,
    /// The object's key; `${filename}` at its end stands for the uploaded file's name.
    pub key: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub expires_seconds: u64,
    /// Fields the form carries, each fixed by an `eq` condition (`acl`, `Content-Type`,
    /// `success_action_status`, `x-amz-meta-*` ...).
    pub fields: Vec<(String, String)>,
    /// The file sizes allowed, inclusive.
    pub content_length_range: Option<(u64, u64)>,
}

/// A form ready for a browser: POST `url` with `fields` before the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostForm {
    pub url: String,
    pub fields: Vec<(String, String)>,
}

impl PostForm {
    /// The form as `generate_presigned_post` returns it: `{"url": ..., "fields": {...}}`.
    pub fn to_json(&self) -> String {
        let fields: serde_json::Map<String, Value> = self.fields.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
        json!({"url": self.url, "fields": fields}).to_string()
    }

    /// The form as HTML, with a file input and a submit button.
    pub fn to_html(&self) -> String {
        let escape = crate::guard::escape_xml;
        let mut html =
            format!("<form action=\"{}\" method=\"post\" enctype=\"multipart/form-data\">\n", escape(&self.url));
        for (name, value) in &self.fields {
            html.push_str(&format!(
                "  <input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            ));
        }
        html.push_str("  <input type=\"file\" name=\"file\">\n  <input type=\"submit\" value=\"Upload\">\n</form>\n");
        html
    }
}

/// Signs a form for `request`, valid from `now` for `request.expires_seconds` (at most
/// `PRESIGNED_POST_SECONDS_MAX`).
pub fn presigned_post(request: &PostFormRequest, now: time::OffsetDateTime) -> Result<PostForm, String> {
    if request.expires_seconds == 0 || request.expires_seconds > PRESIGNED_POST_SECONDS_MAX {
        return Err(format!("a form expires in 1 to {PRESIGNED_POST_SECONDS_MAX} seconds"));
    }
    let stamp = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let amz_date = now.format(&stamp).map_err(|e| e.to_string())?;
    let credential = format!("{}/{}/{}/s3/aws4_request", request.access_key, &amz_date[..8], request.region);
    let expiration = now + time::Duration::seconds(request.expires_seconds as i64);
    let iso = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    let mut conditions: Vec<Value> = request.fields.iter().map(|(n, v)| json!({ n.clone(): v })).collect();
    if let Some((min, max)) = request.content_length_range {
        conditions.push(json!(["content-length-range", min, max]));
    }
    conditions.push(json!({"bucket": request.bucket}));
    match request.key.strip_suffix("${filename}") {
        Some(prefix) => conditions.push(json!(["starts-with", "$key", prefix])),
        None => conditions.push(json!({"key": request.key})),
    }
    let signing = [
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential", credential.clone()),
        ("x-amz-date", amz_date.clone()),
    ];
    conditions.extend(signing.iter().map(|(n, v)| json!({ *n: v })));
    let policy = json!({"expiration": expiration.format(&iso).map_err(|e| e.to_string())?, "conditions": conditions});
    let policy = base64_simd::STANDARD.encode_to_string(policy.to_string());
    let scope = Scope::parse(&credential).ok_or("the access key or region cannot be in a credential")?;
    let signature = scope.sign_policy(&request.secret_key, &policy);
    let mut fields = request.fields.clone();
    fields.push(("key".to_owned(), request.key.clone()));
    fields.extend(signing.into_iter().map(|(n, v)| (n.to_owned(), v)));
    fields.push(("policy".to_owned(), policy));
    fields.push(("x-amz-signature".to_owned(), signature));
    let url = format!("{}/{}", request.endpoint.trim_end_matches('/'), request.bucket);
    Ok(PostForm { url, fields })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::policy::FormPolicy;
    use crate::web::post::Fields;

    #[test]
    fn a_presigned_form_satisfies_its_own_policy() {
        let request = PostFormRequest {
            endpoint: "http://127.0.0.1:9000/".into(),
            bucket: "photos".into(),
            key: "uploads/${filename}".into(),
            access_key: "AK".into(),
            secret_key: "secret-key".into(),
            region: "us-east-1".into(),
            expires_seconds: 600,
            fields: vec![("acl".into(), "public-read".into()), ("success_action_status".into(), "201".into())],
            content_length_range: Some((1, 100)),
        };
        let form = presigned_post(&request, time::OffsetDateTime::now_utc()).unwrap();
        assert_eq!(form.url, "http://127.0.0.1:9000/photos");
        let fields = Fields(form.fields.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.clone())).collect());
        let policy = FormPolicy::parse(fields.get("policy").unwrap()).unwrap();
        assert_eq!(policy.check(&fields, "photos").unwrap(), crate::web::policy::Limits { min: 1, max: 100 });
        let scope = Scope::parse(fields.get("x-amz-credential").unwrap()).unwrap();
        assert_eq!(
            scope.sign_policy("secret-key", fields.get("policy").unwrap()),
            fields.get("x-amz-signature").unwrap()
        );
        assert!(form.to_json().contains("\"x-amz-signature\""));
        assert!(form.to_html().contains("enctype=\"multipart/form-data\""));
        let forever = PostFormRequest { expires_seconds: PRESIGNED_POST_SECONDS_MAX + 1, ..request };
        assert!(presigned_post(&forever, time::OffsetDateTime::now_utc()).is_err());
    }
}
