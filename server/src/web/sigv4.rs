//! The two SigV4 computations the web side makes itself: checking a browser form's signature
//! (an HMAC of its base64 policy under the signing key of the credential's scope), and signing
//! the S3 PUT a verified form becomes, so that it passes the same authentication and
//! authorization step as any other request, as the account that signed the form.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 15)] as char);
    }
    text
}

/// A credential's scope: `<yyyymmdd>/<region>/<service>/aws4_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scope {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    /// `<access key>/<yyyymmdd>/<region>/<service>/aws4_request`, as `x-amz-credential` holds it.
    pub fn parse(credential: &str) -> Option<Scope> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key, date, region, service, "aws4_request"] = parts[..] else { return None };
        let valid = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
        (valid && !access_key.is_empty() && !region.is_empty() && !service.is_empty()).then(|| Scope {
            access_key: access_key.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }

    fn text(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }

    fn signing_key(&self, secret: &str) -> Vec<u8> {
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), self.date.as_bytes());
        for part in [&self.region, &self.service, "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        key
    }

    /// The signature of a form's base64 policy (hex).
    pub fn sign_policy(&self, secret: &str, policy: &str) -> String {
        hex(&hmac(&self.signing_key(secret), policy.as_bytes()))
    }

    /// The `Authorization` of a header-signed request with an unsigned payload: `path` and
    /// `query` canonical (URI-encoded; the query's pairs sorted, each `name=value`), `headers`
    /// every signed header, lower-case names, sorted, `amz_date` among them.
    pub fn authorize(
        &self,
        secret: &str,
        method: &str,
        (path, query): (&str, &str),
        headers: &[(&str, &str)],
        amz_date: &str,
    ) -> String {
        let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{}\n", v.trim())).collect();
        let signed = headers.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(";");
        let canonical = format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\nUNSIGNED-PAYLOAD");
        let scope = self.text();
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
        let signature = hex(&hmac(&self.signing_key(secret), to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access_key
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's worked example of deriving a signing key ("Examples of how to derive a signing
    /// key for Signature Version 4").
    #[test]
    fn the_signing_key_is_aws_s() {
        let scope = Scope::parse("AKIDEXAMPLE/20120215/us-east-1/iam/aws4_request").unwrap();
        assert_eq!(
            hex(&scope.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        assert_eq!(Scope::parse("AK/2015122/us-east-1/s3/aws4_request"), None);
        assert_eq!(Scope::parse("AK/20151229/us-east-1/s3/aws5_request"), None);
    }
}
